package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/patch"
	"github.com/rktbuild/rktbuild/remotecache"
	"github.com/rktbuild/rktbuild/step"
)

// Make runs the kernel's make out of tree.
type Make struct {
	Src, Out string
	Arch     string   // ARCH=, e.g. x86_64
	Env      []string // extra environment (KBUILD_BUILD_*, CCACHE_*)
	// CC, when set, replaces the compiler (CC= and HOSTCC=), e.g.
	// "ccache gcc".
	CC string
}

// SrcArch maps ARCH to the arch/ directory name.
func (m Make) SrcArch() string {
	switch m.Arch {
	case "x86_64", "i386", "x86":
		return "x86"
	case "aarch64":
		return "arm64"
	}
	return m.Arch
}

func (m Make) args(jobs int, targets ...string) []string {
	a := []string{"-C", m.Src, "O=" + m.Out, "ARCH=" + m.Arch, "--no-print-directory"}
	if m.CC != "" {
		a = append(a, "CC="+m.CC, "HOSTCC="+m.CC)
	}
	if jobs > 1 {
		a = append(a, fmt.Sprintf("-j%d", jobs))
	}
	return append(a, targets...)
}

// Run runs make with jobs parallel jobs (reserved from the S1B_JOBS budget).
func (m Make) Run(ctx context.Context, jobs int, targets ...string) error {
	if jobs < 1 {
		jobs = 1
	}
	return step.Cmd{Env: m.Env, Jobs: jobs}.Run(ctx, "make", m.args(jobs, targets...)...)
}

// RunWithHeartbeat is Run for long builds: when output is not verbose it
// prints a line every interval with the number of objects built so far
// and, when expected (the previous build's count) is known, the
// percentage and an ETA, so a quiet build shows it is alive and how long
// it will take. It returns the number of objects built.
func (m Make) RunWithHeartbeat(ctx context.Context, jobs int, interval time.Duration, expected int64, targets ...string) (int64, error) {
	if jobs < 1 {
		jobs = 1
	}
	var n atomic.Int64
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				step.Summaryf(ctx, "%s: make %s: %s", step.Name(ctx), strings.Join(targets, " "), progressLine(n.Load(), expected, time.Since(start)))
			}
		}
	}()
	w := lineCounter{n: &n}
	cmd := step.Cmd{Env: m.Env, Jobs: jobs, Stdout: &w}
	if step.SessionFrom(ctx).Verbose {
		cmd.Stdout = io.MultiWriter(&w, os.Stdout)
	}
	err := cmd.Run(ctx, "make", m.args(jobs, targets...)...)
	return n.Load(), err
}

// progressLine formats a build's progress: objects built, and with an
// expected count (from the previous build) the percentage and an ETA
// extrapolated from the rate so far.
func progressLine(n, expected int64, elapsed time.Duration) string {
	el := elapsed.Round(time.Second)
	if expected == incremental {
		return fmt.Sprintf("%d objects rebuilt, %s (incremental: only what changed is compiled, then the kernel is linked)", n, el)
	}
	if expected <= 0 {
		return fmt.Sprintf("%d objects built, %s (no previous build to estimate from)", n, el)
	}
	if n >= expected {
		return fmt.Sprintf("%d objects built (%d expected), %s, finishing", n, expected, el)
	}
	pct := n * 100 / expected
	if n == 0 {
		return fmt.Sprintf("0/%d objects (0%%), %s", expected, el)
	}
	eta := time.Duration(float64(elapsed) * float64(expected-n) / float64(n)).Round(time.Second)
	return fmt.Sprintf("%d/%d objects (%d%%), %s, ETA %s", n, expected, pct, el, eta)
}

// incremental is progressLine's expected count for a tree that was built
// before: make recompiles only what changed, so the full build's object
// count would give a wrong percentage and an ETA of an hour.
const incremental = -1

// readObjectCount reads the object count a previous build recorded, or 0.
func readObjectCount(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// lineCounter counts kbuild's "  CC  file" style lines.
type lineCounter struct{ n *atomic.Int64 }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n.Add(int64(bytes.Count(p, []byte("  CC ")) + bytes.Count(p, []byte("  AS "))))
	return len(p), nil
}

// Release returns `make kernelrelease`.
func (m Make) Release(ctx context.Context) (string, error) {
	var b strings.Builder
	err := step.Cmd{Env: m.Env, Stdout: &b}.Run(ctx, "make", append([]string{"-s"}, m.args(1, "kernelrelease")...)...)
	r := strings.TrimSpace(b.String())
	if err == nil && (r == "" || strings.ContainsAny(r, " \n/")) {
		err = fmt.Errorf("make kernelrelease printed %q", r)
	}
	return r, err
}

// Options configures Build. Paths may be relative to the working directory.
type Options struct {
	Version         string // S1B_KERNEL_VERSION; empty: distribution package
	Source          string // S1B_KERNEL_SOURCE: auto, kernelorg, distro, local
	BaseURL         string // S1B_KERNEL_URL
	DistroPackage   string // S1B_KERNEL_DISTRO_PACKAGE
	Local           string // S1B_KERNEL_LOCAL
	Suffix          string // S1B_KERNEL_VERSION_SUFFIX → CONFIG_LOCALVERSION
	ExtraPatchFiles []string
	ExtraPatchURLs  []string // URL, optionally with #sha256=HEX

	// ConfigsDir, PatchesDir and KeysDir default to kernel/configs,
	// kernel/patches and kernel/keys; when such a directory does not
	// exist, the copy embedded in this package (Assets) is used.
	ConfigsDir string
	PatchesDir string
	KeysDir    string

	WorkDir  string // trees and stamps: <S1B_BUILD_DIR>/kernel
	CacheDir string // downloads: <CACHE_DIR>/kernel
	Jobs     int    // make -j; 0 means the number of CPUs
	Arch     string // default x86_64
	// BuildTimestamp, when set, is KBUILD_BUILD_TIMESTAMP (reproducible
	// builds); e.g. from SOURCE_DATE_EPOCH.
	BuildTimestamp string
	// CCache routes compiles through ccache (S1B_CCACHE); its Dir
	// defaults to CacheDir/ccache.
	CCache CCache
	// StepStore, when set, is the base URL of a remote HTTP(S) store
	// where the built kernel and headers are kept, keyed by the build
	// step's input hash (from S1B_REMOTE_CACHE).
	StepStore string
	Client    *http.Client
}

// Result describes a built kernel.
type Result struct {
	Label    string  // names the source, e.g. distro-linux-source-6.1
	Version  Version // upstream version of the source tree
	Release  string  // `make kernelrelease`, e.g. 6.1.192-rktbuild-v1
	Image    string  // bzImage
	Config   string  // the final .config
	Headers  string  // a root holding lib/modules/<Release>/{include,source}
	Src, Out string  // source and O= build trees
	// Source records the kernel source (package and version, or URL)
	// with its tarball's SHA-256, for the image's annotations.
	Source SourceRecord
	// Epoch is the SOURCE_DATE_EPOCH the build used: the configured one
	// (From "SOURCE_DATE_EPOCH") or one derived from the source.
	Epoch Epoch
}

var suffixRE = regexp.MustCompile(`^[A-Za-z0-9._+-]*$`)

func (o *Options) defaults() {
	if o.ConfigsDir == "" {
		o.ConfigsDir = filepath.Join("kernel", "configs")
	}
	if o.PatchesDir == "" {
		o.PatchesDir = filepath.Join("kernel", "patches")
	}
	if o.KeysDir == "" {
		o.KeysDir = filepath.Join("kernel", "keys")
	}
	if o.WorkDir == "" {
		o.WorkDir = filepath.Join("build", "kernel")
	}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(".rktbuild", "cache", "kernel")
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	if o.Arch == "" {
		o.Arch = "x86_64"
	}
	if o.CCache.Dir == "" {
		o.CCache.Dir = filepath.Join(o.CacheDir, "ccache")
	}
}

// sourceMarker is written into the source tree after it was unpacked and
// patched; its hash identifies the tree for the later steps.
type sourceMarker struct {
	Origin  string            `json:"origin"`
	Input   string            `json:"input_sha256"`
	Patches map[string]string `json:"patches"`
	Applied []patch.Result    `json:"applied"`
	// Touched are the files the patches change; when only the patch set
	// changes, these (old and new) get a fresh mtime and every other file
	// keeps the tarball's, so make rebuilds only what the patches affect.
	Touched []string `json:"touched"`
}

// readMarker reads a source tree's marker, or nil.
func readMarker(path string) *sourceMarker {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var m sourceMarker
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return &m
}

const markerName = ".rktbuild-source.json"

// Build resolves, verifies, unpacks, patches, configures and builds the
// kernel and installs its headers. Each phase is a step: with unchanged
// inputs a second Build does no work.
func Build(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if !suffixRE.MatchString(o.Suffix) {
		return nil, fmt.Errorf("S1B_KERNEL_VERSION_SUFFIX=%q: only letters, digits and . _ + - may appear in a kernel release", o.Suffix)
	}
	kind, err := ResolveKind(o.Source, o.Version, o.Local)
	if err != nil {
		return nil, err
	}
	for _, a := range []struct {
		dir  *string
		name string
	}{{&o.ConfigsDir, "configs"}, {&o.PatchesDir, "patches"}, {&o.KeysDir, "keys"}} {
		if *a.dir, err = assetDir(*a.dir, a.name, o.WorkDir); err != nil {
			return nil, err
		}
	}

	// 1. The verified input: a tarball or a directory.
	var input, label string
	switch kind {
	case SourceKernelOrg:
		v, err := ParseVersion(o.Version)
		if err != nil {
			return nil, fmt.Errorf("S1B_KERNEL_VERSION: %w", err)
		}
		label = "linux-" + v.String()
		ko := KernelOrg{BaseURL: o.BaseURL, CacheDir: o.CacheDir, KeysDir: o.KeysDir, Client: o.Client}
		input = filepath.Join(o.CacheDir, filepath.FromSlash(v.Dir()), v.Tarball())
		_, err = step.Do(ctx, step.Step{
			Name:    "kernel:fetch:" + label,
			Inputs:  step.Inputs{Files: []string{o.KeysDir}, Values: map[string]string{"url": o.BaseURL, "version": v.String()}},
			Outputs: []string{input},
			Run: func(ctx context.Context) error {
				_, err := ko.Fetch(ctx, v)
				return err
			},
		})
		if err != nil {
			return nil, err
		}
	case SourceDistro:
		t, pkg, err := DistroTarball(ctx, o.DistroPackage, o.Version)
		if err != nil {
			return nil, err
		}
		input, label = t, "distro-"+pkg
	case SourceLocal:
		fi, err := os.Stat(o.Local)
		if err != nil {
			return nil, fmt.Errorf("S1B_KERNEL_LOCAL: %w", err)
		}
		input = o.Local
		label = "local-" + strings.Split(filepath.Base(o.Local), ".tar")[0]
		if !fi.IsDir() && !strings.Contains(filepath.Base(o.Local), ".tar") {
			return nil, fmt.Errorf("S1B_KERNEL_LOCAL=%s: expected a .tar, .tar.gz or .tar.xz tarball or a kernel tree", o.Local)
		}
	}

	rec, err := sourceRecord(ctx, kind, input, label, o)
	if err != nil {
		return nil, err
	}
	var epoch Epoch
	if o.BuildTimestamp == "" {
		if epoch, err = deriveEpoch(ctx, rec, input); err != nil {
			return nil, err
		}
		o.BuildTimestamp = time.Unix(epoch.Unix, 0).UTC().Format(time.RFC1123)
		step.Summaryf(ctx, "SOURCE_DATE_EPOCH is not set: using %d, %s", epoch.Unix, epoch.From)
	} else if t, perr := time.Parse(time.RFC1123, o.BuildTimestamp); perr == nil {
		epoch = Epoch{t.Unix(), "SOURCE_DATE_EPOCH"}
	}

	// 2. Patches: the project's, extra files, extra URLs (downloaded once).
	patches, err := patch.List(o.PatchesDir)
	if err != nil {
		return nil, err
	}
	patches = append(patches, o.ExtraPatchFiles...)
	for _, u := range o.ExtraPatchURLs {
		var p string
		err := step.Perform(ctx, step.Effect{What: "download kernel patch " + u, Run: func(ctx context.Context) (err error) {
			p, err = fetchPatch(ctx, o.Client, u, filepath.Join(o.CacheDir, "patches"))
			return err
		}})
		if err != nil {
			return nil, fmt.Errorf("S1B_EXTRA_KERNEL_PATCH_URLS: %w", err)
		}
		patches = append(patches, p)
	}
	for _, p := range patches {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("kernel patch: %w", err)
		}
	}

	r := &Result{Label: label, Source: rec, Epoch: epoch}
	base := filepath.Join(o.WorkDir, label)
	r.Src = filepath.Join(base, "src")
	r.Out = filepath.Join(base, "out")
	marker := filepath.Join(r.Src, markerName)
	if _, err := os.Stat(filepath.Join(r.Src, "Makefile")); err != nil {
		_ = os.Remove(marker) // tree gone: unpack again
	}

	// 3. Unpack and patch (atomically: the tree appears complete or not).
	_, err = step.Do(ctx, step.Step{
		Name:    "kernel:source:" + label,
		Inputs:  step.Inputs{Files: append([]string{input}, patches...), Values: map[string]string{"kind": kind}},
		Outputs: []string{marker},
		Run:     func(ctx context.Context) error { return prepareSource(ctx, kind, input, patches, r.Src) },
	})
	if err != nil {
		return nil, err
	}
	srcID, err := fsutil.HashFile(marker)
	if err != nil {
		return nil, err
	}
	if r.Version, err = TreeVersion(r.Src); err != nil {
		return nil, err
	}

	// KBUILD_BUILD_VERSION pins the build counter (`#1` in uname -v),
	// which kbuild otherwise increments on every relink in the same tree.
	env := []string{"KBUILD_BUILD_USER=rktbuild", "KBUILD_BUILD_HOST=rktbuild", "KBUILD_BUILD_VERSION=1"}
	if o.BuildTimestamp != "" {
		env = append(env, "KBUILD_BUILD_TIMESTAMP="+o.BuildTimestamp)
	}
	cc, ccEnv, err := o.CCache.resolve(mustAbs(base))
	if err != nil {
		return nil, err
	}
	mk := Make{Src: mustAbs(r.Src), Out: mustAbs(r.Out), Arch: o.Arch, Env: append(append([]string(nil), env...), ccEnv...), CC: cc}

	// 4. Configure, then the drift gate.
	choice, err := LookupConfig(o.ConfigsDir, r.Version)
	if err != nil {
		return nil, err
	}
	r.Config = filepath.Join(r.Out, ".config")
	_, err = step.Do(ctx, step.Step{
		Name: "kernel:config:" + label,
		Inputs: step.Inputs{Files: []string{choice.Path}, Values: map[string]string{
			"source": srcID, "suffix": o.Suffix, "arch": o.Arch, "base": BaseConfig, "fragment": fmt.Sprint(choice.Fragment)}},
		Outputs: []string{r.Config},
		Run:     func(ctx context.Context) error { return Configure(ctx, mk, choice, o.Suffix) },
	})
	if err != nil {
		return nil, err
	}

	// 5. Build (or take the kernel and headers from the remote step store).
	r.Image = filepath.Join(r.Out, "arch", mk.SrcArch(), "boot", "bzImage")
	releaseFile := filepath.Join(r.Out, "rktbuild-kernelrelease")
	var store *remotecache.Store
	if o.StepStore != "" {
		if store, err = remotecache.New(o.StepStore, nil); err != nil {
			return nil, fmt.Errorf("S1B_REMOTE_CACHE: %w", err)
		}
	}
	remoteDir := filepath.Join(base, "remote")
	var remoteKey string
	builtHere := false
	_, err = step.Do(ctx, step.Step{
		Name:    "kernel:build:" + label,
		Inputs:  step.Inputs{Files: []string{r.Config}, Values: map[string]string{"source": srcID, "env": strings.Join(env, " ")}},
		Outputs: []string{r.Image, releaseFile},
		Run: func(ctx context.Context) error {
			if store != nil {
				cfg, err := fsutil.HashFile(r.Config)
				if err != nil {
					return err
				}
				remoteKey = remotecache.Key("kernel:build+headers v1", cfg, srcID, strings.Join(env, " "), o.Arch)
				hit, err := fromRemote(ctx, store, remoteKey, remoteDir, r.Image, releaseFile)
				if err != nil {
					step.Summaryf(ctx, "kernel: remote cache %s: %v; building locally", o.StepStore, err)
				}
				if hit {
					return nil
				}
			}
			builtHere = true
			countFile := filepath.Join(o.CacheDir, "objects-"+label)
			expected := readObjectCount(countFile)
			if _, err := os.Stat(filepath.Join(mk.Out, "vmlinux")); err == nil {
				expected = incremental
			}
			n, err := mk.RunWithHeartbeat(ctx, o.Jobs, 30*time.Second, expected, "bzImage")
			if err != nil {
				return err
			}
			if n > 0 && n >= readObjectCount(countFile)/2 && os.MkdirAll(o.CacheDir, 0o755) == nil {
				// A full (or nearly full) build: the next one's estimate.
				_ = fsutil.WriteFileBytes(countFile, []byte(fmt.Sprintf("%d\n", n)), 0o644)
			}
			rel, err := mk.Release(ctx)
			if err != nil {
				return err
			}
			return fsutil.WriteFileBytes(releaseFile, []byte(rel+"\n"), 0o644)
		},
	})
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(releaseFile)
	if err != nil {
		return nil, err
	}
	r.Release = strings.TrimSpace(string(data))

	// 6. Headers.
	r.Headers = filepath.Join(base, "headers")
	_, err = step.Do(ctx, step.Step{
		Name:    "kernel:headers:" + label,
		Inputs:  step.Inputs{Files: []string{r.Config, r.Image}, Values: map[string]string{"source": srcID, "release": r.Release}},
		Outputs: []string{r.Headers},
		Run: func(ctx context.Context) error {
			return fsutil.ReplaceDir(r.Headers, func(tmp string) error {
				if !builtHere {
					if _, err := os.Stat(filepath.Join(remoteDir, "headers")); err == nil {
						return cp.Copy(filepath.Join(remoteDir, "headers"), tmp)
					}
				}
				return InstallHeaders(ctx, mk, tmp, r.Release)
			})
		},
	})
	if err != nil {
		return nil, err
	}
	if store != nil && builtHere && remoteKey != "" {
		if err := toRemote(ctx, store, remoteKey, remoteDir, r.Image, releaseFile, r.Headers); err != nil {
			step.Summaryf(ctx, "kernel: could not store the build in the remote cache: %v", err)
		} else {
			step.Summaryf(ctx, "kernel: stored the kernel and headers in the remote cache (key %s)", remoteKey[:16])
		}
	}
	return r, nil
}

// fromRemote fetches the kernel image, release and headers stored for key
// into remoteDir and installs the image and release file. The archive is
// checked against its SHA-256 before anything is used.
func fromRemote(ctx context.Context, store *remotecache.Store, key, remoteDir, image, releaseFile string) (bool, error) {
	if err := os.RemoveAll(remoteDir); err != nil {
		return false, err
	}
	hit, err := store.Get(ctx, key, remoteDir)
	if err != nil || !hit {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(image), 0o755); err != nil {
		return false, err
	}
	if err := fsutil.WriteFile(image, 0o644, func(w io.Writer) error {
		f, err := os.Open(filepath.Join(remoteDir, "bzImage"))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}); err != nil {
		return false, fmt.Errorf("remote cache entry %s: %w", key, err)
	}
	rel, err := os.ReadFile(filepath.Join(remoteDir, "release"))
	if err != nil {
		return false, fmt.Errorf("remote cache entry %s: %w", key, err)
	}
	if err := fsutil.WriteFileBytes(releaseFile, rel, 0o644); err != nil {
		return false, err
	}
	step.Summaryf(ctx, "kernel: remote cache hit (key %s): nothing to compile", key[:16])
	return true, nil
}

// toRemote stores the built image, release and headers under key.
func toRemote(ctx context.Context, store *remotecache.Store, key, remoteDir, image, releaseFile, headers string) error {
	if err := os.RemoveAll(remoteDir); err != nil {
		return err
	}
	defer os.RemoveAll(remoteDir)
	if err := os.MkdirAll(remoteDir, 0o755); err != nil {
		return err
	}
	for _, c := range [][2]string{{image, "bzImage"}, {releaseFile, "release"}, {headers, "headers"}} {
		if err := cp.Copy(c[0], filepath.Join(remoteDir, c[1])); err != nil {
			return err
		}
	}
	return store.Put(ctx, key, remoteDir)
}

// sourceRecord describes the verified input for the image's annotations.
func sourceRecord(ctx context.Context, kind, input, label string, o Options) (SourceRecord, error) {
	rec := SourceRecord{Kind: kind}
	sum, err := hashInput(ctx, input)
	if err != nil {
		return rec, err
	}
	if sum != "directory" {
		rec.SHA256 = sum
	}
	switch kind {
	case SourceDistro:
		rec.Package = strings.TrimPrefix(label, "distro-")
		if rec.Version, err = packageVersion(ctx, rec.Package); err != nil {
			return rec, err
		}
	case SourceKernelOrg:
		v, _ := ParseVersion(o.Version)
		rec.URL = strings.TrimRight(o.BaseURL, "/") + "/" + v.Dir() + "/" + v.Tarball()
	case SourceLocal:
		rec.URL = filepath.Base(input)
	}
	return rec, nil
}

// prepareSource unpacks input into srcDir (atomically) and applies
// patches, writing the marker that identifies the tree. When only the
// patch set changed since the last run, unpatched files keep the tarball's
// mtimes and the files old or new patches touch get the current time, so
// make rebuilds only what the patches affect.
func prepareSource(ctx context.Context, kind, input string, patches []string, srcDir string) error {
	inputHash, err := hashInput(ctx, input)
	if err != nil {
		return err
	}
	marker := filepath.Join(srcDir, markerName)
	prev := readMarker(marker)
	// Same tarball, other patches: keep the tarball's mtimes so an
	// incremental build follows; otherwise every file is new.
	keepTimes := prev != nil && prev.Origin == kind+":"+input && prev.Input == inputHash && inputHash != "directory"
	return fsutil.ReplaceDir(srcDir, func(tmp string) error {
		if err := unpack(ctx, input, tmp, !keepTimes); err != nil {
			return err
		}
		applied, err := patch.Apply(ctx, tmp, "the kernel source", patches)
		if err != nil {
			return err
		}
		m := sourceMarker{Origin: kind + ":" + input, Input: inputHash, Patches: map[string]string{}}
		touched := map[string]bool{}
		for _, a := range applied {
			h, _ := fsutil.HashFile(a.Patch)
			m.Patches[filepath.Base(a.Patch)] = h
			m.Applied = append(m.Applied, patch.Result{Patch: filepath.Base(a.Patch), Status: a.Status})
			step.Summaryf(ctx, "kernel patch %s: %s", filepath.Base(a.Patch), a.Status)
			data, err := os.ReadFile(a.Patch)
			if err != nil {
				return err
			}
			for _, f := range patch.Files(data) {
				touched[f] = true
			}
		}
		for f := range touched {
			m.Touched = append(m.Touched, f)
		}
		sort.Strings(m.Touched)
		if keepTimes {
			now := time.Now()
			for _, f := range append(append([]string(nil), m.Touched...), prev.Touched...) {
				p := filepath.Join(tmp, f)
				if _, err := os.Lstat(p); err == nil {
					if err := os.Chtimes(p, now, now); err != nil {
						return err
					}
				}
			}
		}
		data, _ := json.MarshalIndent(m, "", "  ")
		return os.WriteFile(filepath.Join(tmp, markerName), data, 0o644)
	})
}

// BaseConfig is the config the fragment is merged over. tinyconfig keeps
// the guest kernel small and its build short (about 7 minutes with -j2
// instead of most of an hour for defconfig); the fragment then turns on
// exactly what a stage1-kvm guest needs, and the drift gate proves it.
const BaseConfig = "tinyconfig"

// Configure writes O/.config: the full config, or BaseConfig with the
// fragment merged over it, plus CONFIG_LOCALVERSION=suffix, completed by
// olddefconfig. The drift gate then fails with the list of requested
// options that Kconfig dropped.
func Configure(ctx context.Context, mk Make, choice ConfigChoice, suffix string) error {
	if err := os.MkdirAll(mk.Out, 0o755); err != nil {
		return err
	}
	cfgPath := filepath.Join(mk.Out, ".config")
	want := LocalVersion(suffix)
	var base []byte
	if choice.Fragment {
		frag, err := os.ReadFile(choice.Path)
		if err != nil {
			return err
		}
		fo, err := ParseConfig(frag)
		if err != nil {
			return fmt.Errorf("%s: %w", choice.Path, err)
		}
		want = append(fo, want...)
		if base, err = baseConfig(ctx, mk); err != nil {
			return err
		}
	} else {
		var err error
		if base, err = os.ReadFile(choice.Path); err != nil {
			return err
		}
		if _, err := ParseConfig(base); err != nil {
			return fmt.Errorf("%s: %w", choice.Path, err)
		}
	}
	if err := fsutil.WriteFileBytes(cfgPath, Merge(base, want), 0o644); err != nil {
		return err
	}
	if err := mk.Run(ctx, 1, "olddefconfig"); err != nil {
		return err
	}
	final, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	drift, err := Drift(final, want)
	if err != nil {
		return err
	}
	if len(drift) > 0 {
		return fmt.Errorf("kernel config drift gate: %d option(s) from %s did not survive olddefconfig (renamed symbol or unmet dependency?):\n  %s",
			len(drift), choice.Path, strings.Join(drift, "\n  "))
	}
	return nil
}

// baseConfigKeep holds BaseConfig's output in O/, headed by the key it
// was made under.
const baseConfigKeep = ".rktbuild-base.config"

// baseConfig returns BaseConfig's .config for mk's tree. `make tinyconfig`
// takes about 12 s (allnoconfig, then merge_config.sh's own make), a fifth
// of a suffix or fragment change, and its output depends only on the
// source (its marker: tarball hash and patches), ARCH and the compiler
// Kconfig probes, so a copy in O/ under that key answers every later
// configuration of the same tree.
func baseConfig(ctx context.Context, mk Make) ([]byte, error) {
	cc := "gcc"
	if f := strings.Fields(mk.CC); len(f) > 0 {
		cc = f[len(f)-1]
	}
	ver, err := step.Output(ctx, cc, "--version")
	if err != nil {
		return nil, err
	}
	marker, err := os.ReadFile(filepath.Join(mk.Src, markerName))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{BaseConfig, mk.Arch, ver, string(marker)}, "\x00")))
	head := "# rktbuild " + BaseConfig + " key " + hex.EncodeToString(sum[:]) + "\n"
	keep := filepath.Join(mk.Out, baseConfigKeep)
	if b, err := os.ReadFile(keep); err == nil && len(marker) > 0 && bytes.HasPrefix(b, []byte(head)) {
		return b[len(head):], nil
	}
	if err := mk.Run(ctx, 1, BaseConfig); err != nil {
		return nil, err
	}
	base, err := os.ReadFile(filepath.Join(mk.Out, ".config"))
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileBytes(keep, append([]byte(head), base...), 0o644); err != nil {
		return nil, err
	}
	return base, nil
}

// unpack extracts a tarball (top directory stripped; with touch, mtimes
// set to now so make sees every file as changed) or copies a tree into dir.
func unpack(ctx context.Context, input, dir string, touch bool) error {
	fi, err := os.Stat(input)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return cp.Copy(input, dir, cp.Options{
			OnSymlink: func(string) cp.SymlinkAction { return cp.Shallow },
			Skip: func(fi os.FileInfo, src, dest string) (bool, error) {
				return fi.IsDir() && fi.Name() == ".git", nil
			},
		})
	}
	args := []string{"--extract", "--no-same-owner", "--strip-components=1", "--file", input, "--directory", dir}
	if touch {
		args = append(args, "--touch")
	}
	return step.Cmd{}.Run(ctx, "tar", args...)
}

func hashInput(ctx context.Context, p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "directory", nil
	}
	return step.HashFile(ctx, p)
}

// fetchPatch downloads a patch URL into dir once. A "#sha256=HEX" suffix
// pins its content.
func fetchPatch(ctx context.Context, client *http.Client, raw, dir string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	want := ""
	if strings.HasPrefix(u.Fragment, "sha256=") {
		want = strings.ToLower(strings.TrimPrefix(u.Fragment, "sha256="))
	}
	u.Fragment = ""
	sum := sha256.Sum256([]byte(u.String()))
	name := filepath.Base(u.Path)
	if !strings.HasSuffix(name, ".patch") && !strings.HasSuffix(name, ".diff") {
		name += ".patch"
	}
	dest := filepath.Join(dir, hex.EncodeToString(sum[:8])+"-"+name)
	if err := Download(ctx, client, u.String(), dest); err != nil {
		return "", err
	}
	if want != "" {
		got, err := fsutil.HashFile(dest)
		if err != nil {
			return "", err
		}
		if got != want {
			_ = os.Remove(dest)
			return "", &VerifyError{u.String(), "sha256 " + got + ", expected " + want + " (the download was removed)"}
		}
	} else {
		got, _ := fsutil.HashFile(dest)
		step.Summaryf(ctx, "kernel patch %s is not pinned: append #sha256=%s to the URL to pin it", u, got)
	}
	return dest, nil
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
