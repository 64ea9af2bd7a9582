package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/images"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/step"
	"golang.org/x/term"
)

var (
	debootstrapTool = step.Tool{Command: "debootstrap", Package: "debootstrap", VersionArgs: []string{"--version"}}
	nspawnTool      = step.Tool{Command: "systemd-nspawn", Package: "systemd-container", VersionArgs: []string{"--version"}}
	goTool          = step.Tool{Command: "go", Package: "golang-go", VersionArgs: []string{"version"}}
)

func init() { registerBench("run") }

// Run measures `mage run` against bare systemd-nspawn on one image.
//
// It measures `mage run base -args=true` (configuration, signature check,
// cached rendering lookup, systemd-nspawn on an overlay) against bare
// `systemd-nspawn --volatile=overlay` running `true` in the same rendered
// rootfs: the cost of rktbuild's rkt-style checks on every run. Median of
// BENCH_RUNS (default 5) runs each; it builds the base image first if
// needed (ROOTFS_SUITE must be reachable).
func (Bench) Run(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	prep := step.Command(ctx, self, "image", "base")
	prep.Stdout, prep.Stderr = os.Stdout, os.Stderr
	if err := prep.Run(); err != nil {
		return fmt.Errorf("bench:run needs the base image: %w", err)
	}
	r, runner, err := images.Prepare(ctx, c, images.BaseFile(c), false)
	if err != nil {
		return err
	}
	n := 5
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		n = v
	}
	ours, err := timeRuns(ctx, n, self, "run", "base", "-args=true")
	if err != nil {
		return err
	}
	args, err := nspawn.Args(nspawn.Options{Root: r.Rootfs(), Volatile: true, Args: []string{"true"}})
	if err != nil {
		return err
	}
	peer, err := timeRuns(ctx, n, runner.Binary, args...)
	if err != nil {
		return err
	}
	printBench("run", ours, peer, "systemd-nspawn --volatile=overlay true")
	return nil
}

// Rootfs builds the base root file system (minbase) when its inputs changed.
//
// It debootstraps the base root file system into
// <S1B_BUILD_DIR>/rootfs/<suite>-<arch>, reusing downloaded .debs from
// <CACHE_DIR>/debs; it runs only when its inputs changed.
//
// Config: ROOTFS_SUITE (default xenial; bookworm on Debian-only networks),
// ROOTFS_MIRROR (empty: debootstrap's default), ROOTFS_KEYRING,
// ROOTFS_VARIANT, ROOTFS_COMPONENTS, ROOTFS_PACKAGES, ROOTFS_ARCH,
// S1B_BUILD_DIR, CACHE_DIR. Needs root and debootstrap.
func Rootfs(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	if !step.IsDryRun() {
		if err := step.Need(ctx, debootstrapTool); err != nil {
			return err
		}
	}
	o := rootfs.FromConfig(c)
	res, err := rootfs.Build(ctx, o)
	if err != nil {
		return err
	}
	if !res.Ran && !step.IsDryRun() {
		step.Summaryf("rootfs %s: %s", o.Dir, res.Reason)
	}
	return nil
}

// BuildImages builds every image recipe in dependency order.
//
// It builds every image recipe in order (00-base, 10-go-builder,
// ...), each only when its inputs changed, and prints a status table.
//
// Writes <S1B_ACI_DIR>/debian-<suite>-linux-<arch>.aci and
// go-builder-go<GO_VERSION>-linux-<arch>.aci, each with a .asc signature
// by SIGNING_KEY (generated on first use). Config: ACI_REGISTRY,
// ROOTFS_*, GO_VERSION, SIGNING_KEY, SOURCE_DATE_EPOCH, S1B_ACI_DIR,
// CACHE_DIR. Needs root, debootstrap, systemd-nspawn and go (the Go
// toolchain is fetched and verified through the module proxy).
func BuildImages(ctx context.Context) error {
	return buildImageSet(ctx, nil)
}

// Image builds the named images plus what they depend on, in order.
//
// Usage: mage image "go-builder" (names separated by spaces or commas;
// short names or NN-name labels as listed by the error for an unknown
// name). Config as for buildImages.
func Image(ctx context.Context, names string) error {
	list := config.Fields(names)
	if len(list) == 0 {
		return errors.New("image: name at least one image (e.g. base, go-builder)")
	}
	return buildImageSet(ctx, list)
}

func buildImageSet(ctx context.Context, names []string) error {
	c, err := load()
	if err != nil {
		return err
	}
	if !step.IsDryRun() {
		if err := step.Need(ctx, debootstrapTool, nspawnTool, goTool); err != nil {
			return err
		}
	}
	sts, err := images.BuildSet(ctx, c, names)
	if len(sts) > 0 {
		var b strings.Builder
		images.WriteStatus(&b, sts)
		step.Printf("%s", b.String())
	}
	return err
}

// Run runs an image's app with systemd-nspawn, as `rkt run` did.
//
// It runs an image's app with systemd-nspawn, as `rkt run` did: the
// signature is verified against the trust store (TRUST_DIR; images signed
// by this machine's own SIGNING_KEY are accepted too) unless -insecure,
// the image and its dependencies are rendered into <CACHE_DIR>/rendered/<image
// ID> (reused next time), and the app runs with its exec, environment,
// user and working directory on a throw-away overlay. Its exit code becomes
// mage's.
//
// Usage: mage run IMAGE [-args="ARGS"] [-exec=CMD] [-env="K=V ..."]
//
//	[-volume="NAME,kind=host,source=PATH[,readOnly=true] ..."]
//	[-mount="volume=NAME,target=PATH ..."] [-insecure] [-dns=MODE]
//
// IMAGE is an .aci file, a recipe name (base, go-builder) or an image name
// NAME[:VERSION] in S1B_ACI_DIR. -args are appended to the image's exec
// (rkt's `-- ARGS`; quote with ' or "), -exec replaces it. Several volumes
// or mounts are separated by spaces. -dns is systemd-nspawn's
// --resolv-conf mode (default replace-host).
func Run(ctx context.Context, imageRef string, args, exec, env, volume, mount *string, insecure *bool, dns *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	a := image.App{}
	if a.Args, err = splitWords(deref(args)); err != nil {
		return fmt.Errorf("-args: %w", err)
	}
	if a.Exec, err = splitWords(deref(exec)); err != nil {
		return fmt.Errorf("-exec: %w", err)
	}
	if a.Env, err = splitWords(deref(env)); err != nil {
		return fmt.Errorf("-env: %w", err)
	}
	if a.Volumes, err = image.ParseVolumes(deref(volume)); err != nil {
		return err
	}
	if a.Mounts, err = image.ParseMounts(deref(mount)); err != nil {
		return err
	}
	a.ResolvConf = deref(dns)
	file, err := images.FindImage(c, imageRef)
	if err != nil {
		return err
	}
	if step.IsDryRun() {
		step.Summaryf("would run %s", file)
		return nil
	}
	// Standard output belongs to the app, as with rkt: rktbuild's own
	// messages (verification, rendering) go to standard error.
	defer func(w io.Writer) { step.Out = w }(step.Out)
	step.Out = os.Stderr
	r, runner, err := images.Prepare(ctx, c, file, insecure != nil && *insecure)
	if err != nil {
		return err
	}
	o, err := image.RunOptions(r, a)
	if err != nil {
		return err
	}
	if app := r.Manifest.App; app != nil && app.Group != "" && app.Group != "0" && app.Group != "root" {
		step.Summaryf("note: %s asks for group %s; systemd-nspawn runs the app with its user's primary group", r.Manifest.Name, app.Group)
	}
	o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
	if term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
		o.Console = "interactive"
	}
	step.Logf(ctx, "running %s (%s) with %s", r.Manifest.Name, r.ID, runner)
	if err := runner.Run(ctx, o); err != nil {
		if code := nspawn.ExitCode(err); code > 0 {
			return mg.Fatalf(code, "%s exited with status %d", r.Manifest.Name, code)
		}
		return err
	}
	return nil
}

// BuildRepos builds every program of a repo list with the Go builder.
//
// It builds every program in a repo list with the Go builder image
// (built first when needed): one target per line (IMPORT/PATH[@VERSION], a
// git URL honouring $BUILD_BRANCH, or a ./local directory built with its
// Makefile, build script or go build), '#' comments and blank lines
// allowed. Artifacts land in <BINS_DIR>/<entry>.
//
// Usage: mage buildRepos [-file=FILE] [-offline]
//
// FILE defaults to REPO_LIST. -offline builds with no network from the
// module cache only (what earlier runs downloaded).
//
// Runs up to S1B_JOBS builds at a time, output prefixed by entry; a failed
// entry does not stop the others; ends with a table and fails when any
// entry failed. $GOPROXY, $GOFLAGS, $GOPRIVATE, $GONOSUMDB, $GOSUMDB,
// $GOTOOLCHAIN pass through. Module and build caches live in CACHE_DIR.
func BuildRepos(ctx context.Context, file *string, offline *bool) error {
	c, err := load()
	if err != nil {
		return err
	}
	list := c.RepoList
	if file != nil && *file != "" {
		list = *file
	}
	if !step.IsDryRun() {
		if err := step.Need(ctx, debootstrapTool, nspawnTool, goTool); err != nil {
			return err
		}
	}
	sts, _, err := images.BuildRepos(ctx, c, list, offline != nil && *offline)
	if err != nil && len(sts) > 0 && sts[len(sts)-1].Err != nil {
		var b strings.Builder
		images.WriteStatus(&b, sts)
		step.Printf("%s", b.String())
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// splitWords splits s like a shell would split plain words: whitespace
// separates, '...' and "..." group, backslash escapes outside '...'.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				esc = true
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if esc {
		return nil, fmt.Errorf("trailing backslash in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
