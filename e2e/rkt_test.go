//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/step"
)

// The real rkt v1.30.0, built from source once per suite run, is the judge
// of the images rktbuild makes.

var (
	rktOnce  sync.Once
	rktBuilt rkt.Tools
	rktErr   error

	mageBinOnce sync.Once
	mageBin     string
	mageBinErr  error
)

// needTools skips (or, under CI=true, fails) unless every program is in
// PATH; packages names the apt packages that provide them.
func needTools(t *testing.T, packages string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s (apt-get install %s, or `go run mage.go setup`)", tool, packages)
		}
	}
}

// needRoot skips unless root (CI runs the e2e suite as root).
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// rktTools builds rkt v1.30.0 (stage0 and the fly stage1) from source once
// per suite run, cached in the shared work directory, and returns the rkt
// binary and the fly stage1 ACI (rkt's default stage1: it sits beside the
// binary). Other e2e tests call it to judge their images with real rkt.
func rktTools(t *testing.T) (rktBin, flyACI string) {
	t.Helper()
	needRoot(t, "rkt run uses mount namespaces and chroot")
	needTools(t, "golang-go build-essential libacl1-dev util-linux", "go", "gcc", "unshare")
	rktOnce.Do(func() {
		dir := filepath.Join(sharedRoot, "rkt")
		// Keep the hash cache out of the checkout.
		ctx, cancel := context.WithTimeout(step.WithStampDir(context.Background(), filepath.Join(dir, ".stamps")), 30*time.Minute)
		defer cancel()
		start := time.Now()
		rktBuilt, rktErr = rkt.Build(ctx, rkt.Options{WorkDir: dir})
		if rktErr == nil {
			fmt.Fprintf(os.Stderr, "e2e: rkt %s built from source in %s (rebuilt: %v)\n", rkt.Version, time.Since(start).Round(time.Second), rktBuilt.Ran)
		}
	})
	if rktErr != nil {
		t.Fatalf("building rkt %s from source: %v", rkt.Version, rktErr)
	}
	return rktBuilt.Rkt, rktBuilt.Stage1Fly
}

// rktSandbox returns an empty rkt sandbox (its own --dir and config
// directories) removed when the test ends.
func rktSandbox(t *testing.T) *rkt.Sandbox {
	t.Helper()
	bin, fly := rktTools(t)
	s, err := rkt.NewSandbox(t.TempDir(), rkt.Tools{Rkt: bin, Stage1Fly: fly})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rktResult is one finished rkt (or mage) command.
type rktResult struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
}

// runCmd runs cmd, capturing its output and exit status; a command that
// could not start fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) rktResult {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := rktResult{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, r.Stderr)
	}
	return r
}

// rktRun runs `rkt ARGS` in the sandbox (in a private mount namespace).
func rktRun(t *testing.T, ctx context.Context, s *rkt.Sandbox, args ...string) rktResult {
	t.Helper()
	r := runCmd(t, s.Command(ctx, args...))
	t.Logf("rkt %s: exit %d in %s", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond))
	return r
}

// imageName returns the name and version label of an ACI file.
func imageName(t *testing.T, file string) (name, version string) {
	t.Helper()
	m, err := aci.ReadManifest(file)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := m.Labels.Get("version")
	return m.Name.String(), v
}

// TestRktRunBase: rkt (fly) verifies the signature of the shared base
// image against the trusted key, renders it and runs a command in it with
// the command's output and exit status. The image must carry no device
// nodes, else rkt hangs rendering it (bounded here by a timeout).
func TestRktRunBase(t *testing.T) {
	img := sharedImages(t)
	s := rktSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := aci.RktCheck(img.Base); err != nil {
		t.Fatalf("base image: %v", err)
	}
	name, _ := imageName(t, img.Base)
	if err := s.Trust(ctx, name, img.PubKey); err != nil {
		t.Fatal(err)
	}
	r := rktRun(t, ctx, s, "run", img.Base, "--exec=/bin/sh", "--", "-c", "echo hello from $(cat /etc/debian_version | cut -d. -f1); test -d /dev && test -c /dev/null && exit 3")
	if ctx.Err() != nil {
		t.Fatalf("rkt run did not finish (device nodes in the image?): %v\n%s", ctx.Err(), r.Stderr)
	}
	if r.Code != 3 || !strings.Contains(r.Stdout, "hello from 12") {
		t.Fatalf("rkt run = exit %d, stdout %q; want exit 3 and \"hello from 12\"\nstderr:\n%s", r.Code, r.Stdout, testutil.Tail(r.Stderr, 30))
	}
	t.Logf("FIGURE rkt run (fly) of the base image: %s", r.Took.Round(time.Millisecond))
	// A second run reuses rkt's rendered tree.
	r2 := rktRun(t, ctx, s, "run", img.Base, "--exec=/bin/true")
	if r2.Code != 0 {
		t.Fatalf("second rkt run: exit %d\n%s", r2.Code, testutil.Tail(r2.Stderr, 30))
	}
	t.Logf("FIGURE rkt run (fly) of the base image, already in rkt's store: %s", r2.Took.Round(time.Millisecond))
}

// TestRktGoBuilderRepo runs the seed's repo loop with real rkt: the Go
// builder image builds a real module into bins/<repo> through the seed's
// --volume/--mount syntax, with GOPROXY and the host CA bundle passed the
// way BuildRepos passes them.
func TestRktGoBuilderRepo(t *testing.T) {
	img := sharedImages(t)
	s := rktSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	name, _ := imageName(t, img.Builder)
	if err := s.Trust(ctx, name, img.PubKey); err != nil {
		t.Fatal(err)
	}
	repo := imgStringer
	bins := filepath.Join(t.TempDir(), "bins")
	target := filepath.Join(bins, repo)
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"run",
		"--volume", "target,kind=host,source=" + target,
		"--mount", "volume=target,target=/go/bin",
	}
	for _, kv := range recipes.HostEnv() {
		args = append(args, "--set-env="+kv)
	}
	if ca := recipes.HostCAFile(); ca != "" {
		args = append(args,
			"--volume", "hostca,kind=host,source="+ca+",readOnly=true",
			"--mount", "volume=hostca,target="+recipes.HostCAPath,
			"--set-env=SSL_CERT_FILE="+recipes.HostCAPath, "--set-env=GIT_SSL_CAINFO="+recipes.HostCAPath)
	}
	args = append(args, img.Builder, "--", repo)
	r := rktRun(t, ctx, s, args...)
	if r.Code != 0 {
		t.Fatalf("rkt run of the Go builder for %s: exit %d\nstdout:\n%s\nstderr:\n%s", repo, r.Code, testutil.Tail(r.Stdout, 20), testutil.Tail(r.Stderr, 40))
	}
	t.Logf("FIGURE go-builder repo build under rkt (%s): %s", repo, r.Took.Round(time.Millisecond))
	bin := filepath.Join(target, "stringer")
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("bins/%s/stringer: %v (dir holds %v)", repo, err, listDir(target))
	}
	imgRunStringer(t, ctx, bin)
}

func listDir(dir string) []string {
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// compiledMage compiles the magefile once per suite (go run mage.go
// -compile), so tests get mage's own exit codes and can run it inside
// namespaces without compiling there.
func compiledMage(t *testing.T) string {
	t.Helper()
	mageBinOnce.Do(func() {
		out := filepath.Join(sharedRoot, "bin", "mage-rktbuild")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			mageBinErr = err
			return
		}
		abs, err := filepath.Abs(out)
		if err != nil {
			mageBinErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		o, _, err := runMage(ctx, nil, "-compile", abs)
		if err != nil {
			mageBinErr = fmt.Errorf("mage -compile: %v\n%s", err, o)
			return
		}
		mageBin = abs
	})
	if mageBinErr != nil {
		t.Fatal(mageBinErr)
	}
	return mageBin
}

// TestRktAgreesWithMageRun runs one command in the base image with `mage
// run` (systemd-nspawn) and with `rkt run` (fly): same exit status, same
// standard output.
func TestRktAgreesWithMageRun(t *testing.T) {
	img := sharedImages(t)
	s := rktSandbox(t)
	magebin := compiledMage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	name, version := imageName(t, img.Base)
	if err := s.Trust(ctx, name, img.PubKey); err != nil {
		t.Fatal(err)
	}
	script := `echo "os=$(. /etc/os-release; echo $ID-$VERSION_ID)"; echo "uid=$(id -u) cwd=$(pwd)"; ls /usr/bin/dpkg; echo to-stderr >&2; exit 7`
	for _, tc := range []struct{ name, ref string }{
		{"by file", img.Base},
		{"by name", name + ":" + version},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, magebin, "run", tc.ref, "-exec=/bin/sh", "-args=-c '"+script+"'")
			cmd.Dir = ".."
			// A fresh CACHE_DIR: mage renders the image in this run, so
			// its rendering messages must stay off the app's stdout.
			cmd.Env = append(append(os.Environ(), img.Env...), "CACHE_DIR="+t.TempDir())
			m := runCmd(t, cmd)
			rref := img.Base
			r := rktRun(t, ctx, s, "run", rref, "--exec=/bin/sh", "--", "-c", script)
			if m.Code != 7 || r.Code != 7 {
				t.Fatalf("exit status: mage run %d, rkt run %d; want 7 from both\nmage stderr:\n%s\nrkt stderr:\n%s", m.Code, r.Code, testutil.Tail(m.Stderr, 20), testutil.Tail(r.Stderr, 20))
			}
			if m.Stdout != r.Stdout {
				t.Fatalf("standard output differs:\nmage run:\n%s\nrkt run:\n%s", m.Stdout, r.Stdout)
			}
			if !strings.Contains(m.Stdout, "os=debian-12") || !strings.Contains(m.Stderr, "to-stderr") || !strings.Contains(r.Stderr, "to-stderr") {
				t.Fatalf("unexpected output: stdout %q, mage stderr %q, rkt stderr %q", m.Stdout, testutil.Tail(m.Stderr, 5), testutil.Tail(r.Stderr, 5))
			}
		})
	}
}

// servedRegistry is `mage serve` of the published shared images running in
// a private network and mount namespace (loopback up, /etc/hosts naming
// the registry host 127.0.0.1), on port 443 as rkt requires.
type servedRegistry struct {
	pid    int    // a process inside the namespaces (the server)
	caCert string // the CA that signed the server certificate
	www    string // the published web root
	host   string
}

// startRegistry publishes the shared images for https://HOST and serves
// them inside new namespaces; it stops with the test.
func startRegistry(t *testing.T, img *SharedImages, host string) *servedRegistry {
	t.Helper()
	magebin := compiledMage(t)
	dir := t.TempDir()
	env := append(append([]string(nil), img.Env...),
		"PUBLISH_DIR="+filepath.Join(dir, "www"),
		"PUBLISH_BASE_URL=https://"+host,
		"SERVE_ADDR=127.0.0.1:443",
		"CERT_DIR="+filepath.Join(dir, "certs"),
		"CERT_HOSTS="+host+",127.0.0.1",
	)
	ctx := context.Background()
	pub := exec.CommandContext(ctx, magebin, "publish")
	pub.Dir, pub.Env = "..", append(os.Environ(), env...)
	if o, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mage publish: %v\n%s", err, o)
	}
	cr, err := certs.Ensure(filepath.Join(dir, "certs"), []string{host, "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost "+host+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	// unshare without --fork: the shell, then mage, keep the PID, so
	// nsenter -t PID enters the same namespaces.
	srv := step.Command(context.Background(), "unshare", "-m", "-n", "--propagation", "private", "--",
		"sh", "-c", `set -e; ip link set lo up; mount --bind "$1" /etc/hosts; exec "$2" serve`, "sh", hosts, magebin)
	srv.Dir, srv.Env = "..", append(os.Environ(), env...)
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGTERM)
		_ = srv.Wait()
		logf.Close()
	})
	reg := &servedRegistry{pid: srv.Process.Pid, caCert: cr.CACert, www: filepath.Join(dir, "www"), host: host}
	deadline := time.Now().Add(time.Minute)
	for {
		probe := exec.Command("nsenter", "-t", fmt.Sprint(reg.pid), "-n", "-m", "--", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/443")
		if probe.Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("mage serve did not listen on 127.0.0.1:443 within a minute:\n%s", log)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return reg
}

// rktIn runs rkt ARGS from the sandbox inside the registry's namespaces,
// trusting its CA through SSL_CERT_FILE.
func (reg *servedRegistry) rktIn(t *testing.T, ctx context.Context, s *rkt.Sandbox, args ...string) rktResult {
	t.Helper()
	argv := append([]string{"-t", fmt.Sprint(reg.pid), "-n", "-m", "--"}, s.Argv(args...)...)
	cmd := step.Command(ctx, "nsenter", argv...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+reg.caCert)
	r := runCmd(t, cmd)
	t.Logf("rkt %s: exit %d in %s", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond))
	return r
}

// uncompressed returns the uncompressed tar of a gzip-compressed ACI.
func uncompressed(t *testing.T, file string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageIDLine finds the sha512- image ID rkt fetch prints.
func imageIDLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "sha512-") {
			return l
		}
	}
	return ""
}

// TestRktFetchDiscovery: real rkt fetches the published base image from
// `mage serve` by discovery, by NAME:VERSION and by NAME (latest),
// verifying the signature with the trusted key; `rkt image export` equals
// our uncompressed ACI byte for byte; a tampered image and an untrusted
// key are refused.
func TestRktFetchDiscovery(t *testing.T) {
	img := sharedImages(t)
	needTools(t, "util-linux iproute2", "nsenter", "ip", "bash")
	s := rktSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name, version := imageName(t, img.Base)
	host, _, _ := strings.Cut(name, "/")
	reg := startRegistry(t, img, host)

	if err := (func() error {
		r := reg.rktIn(t, ctx, s, "trust", "--prefix="+host, "--skip-fingerprint-review", img.PubKey)
		if r.Code != 0 {
			return fmt.Errorf("rkt trust: exit %d\n%s", r.Code, r.Stderr)
		}
		return nil
	})(); err != nil {
		t.Fatal(err)
	}
	wantID, err := aci.ImageID(img.Base)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{name + ":" + version, name} {
		r := reg.rktIn(t, ctx, s, "fetch", "--pull-policy=update", ref)
		if r.Code != 0 {
			t.Fatalf("rkt fetch %s: exit %d\n%s", ref, r.Code, testutil.Tail(r.Stderr, 30))
		}
		// rkt prints the short form: sha512- and 32 hex digits.
		if got := imageIDLine(r.Stdout); len(got) < 7+32 || !strings.HasPrefix(wantID, got) {
			t.Errorf("rkt fetch %s = %q, want (a prefix of) our image ID %s", ref, got, wantID)
		}
	}
	exported := filepath.Join(t.TempDir(), "export.aci")
	if r := reg.rktIn(t, ctx, s, "image", "export", wantID, exported); r.Code != 0 {
		t.Fatalf("rkt image export: exit %d\n%s", r.Code, r.Stderr)
	}
	got, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if want := uncompressed(t, img.Base); !bytes.Equal(got, want) {
		t.Errorf("rkt image export (%d bytes) differs from our uncompressed ACI (%d bytes)", len(got), len(want))
	}

	// An untrusted key: a sandbox that trusts nothing refuses the image.
	untrusted := rktSandbox(t)
	r := reg.rktIn(t, ctx, untrusted, "fetch", name+":"+version)
	if r.Code == 0 || imageIDLine(r.Stdout) != "" || !strings.Contains(r.Stderr, "unknown entity") {
		t.Errorf("rkt fetch without trusting the key: exit %d, stdout %q, stderr %s; want a refusal (signature made by unknown entity)", r.Code, r.Stdout, testutil.Tail(r.Stderr, 5))
	}
	t.Logf("untrusted key refused: %s", testutil.Tail(r.Stderr, 3))

	// A tampered image: flip one byte in every published copy (signature
	// unchanged); a fresh sandbox that trusts the key refuses it.
	tampered := 0
	err = filepath.WalkDir(reg.www, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".aci") || !strings.Contains(filepath.Base(p), "debian") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0xff
		tampered++
		// Published files are hard links to the shared images: replace
		// the directory entry, never write through the link.
		if err := os.WriteFile(p+".tampered", b, 0o644); err != nil {
			return err
		}
		return os.Rename(p+".tampered", p)
	})
	if err != nil || tampered == 0 {
		t.Fatalf("tampering with the published base image: %v (%d files)", err, tampered)
	}
	if id, err := aci.ImageID(img.Base); err != nil || id != wantID {
		t.Fatalf("tampering changed the shared base image itself: %s, %v", id, err)
	}
	fresh := rktSandbox(t)
	if r := reg.rktIn(t, ctx, fresh, "trust", "--prefix="+host, "--skip-fingerprint-review", img.PubKey); r.Code != 0 {
		t.Fatalf("rkt trust: %s", r.Stderr)
	}
	r = reg.rktIn(t, ctx, fresh, "fetch", name+":"+version)
	if r.Code == 0 || imageIDLine(r.Stdout) != "" || !strings.Contains(r.Stderr, "invalid signature") {
		t.Errorf("rkt fetch of a tampered image: exit %d, stdout %q, stderr %s; want a refusal (invalid signature)", r.Code, r.Stdout, testutil.Tail(r.Stderr, 5))
	}
	t.Logf("tampered image refused: %s", testutil.Tail(r.Stderr, 3))
}

// TestAciBuildWarnsAboutDeviceNodes runs the real targets: aci:build of a
// tree with device nodes stays faithful but warns about each one, naming
// rkt's hang; aci:validate warns, and -rkt refuses; aci:build of a tree
// with a symlink escaping the rootfs fails and writes nothing.
func TestAciBuildWarnsAboutDeviceNodes(t *testing.T) {
	needRoot(t, "creating character devices")
	magebin := compiledMage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "layout", "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(rootfs, "dev", "console"), syscall.S_IFCHR|0o600, 5<<8|1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(rootfs, "dev", "initctl"), 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/devs"}`
	if err := os.WriteFile(filepath.Join(dir, "layout", "manifest"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mage := func(args ...string) rktResult {
		cmd := exec.CommandContext(ctx, magebin, args...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "S1B_BUILD_DIR="+filepath.Join(dir, "build"))
		return runCmd(t, cmd)
	}
	out := filepath.Join(dir, "devs.aci")
	b := mage("aci:build", filepath.Join(dir, "layout"), out)
	all := b.Stdout + b.Stderr
	if b.Code != 0 || !strings.Contains(all, "rootfs/dev/console is a character device") || !strings.Contains(all, "rootfs/dev/initctl is a FIFO") || !strings.Contains(all, "hangs") {
		t.Fatalf("aci:build: exit %d, want 0 with a warning per node naming rkt's hang:\n%s", b.Code, all)
	}
	found, err := aci.SpecialFiles(out)
	if err != nil || len(found) != 2 {
		t.Fatalf("aci:build is not faithful: special files %v, %v", found, err)
	}
	v := mage("aci:validate", out)
	if all := v.Stdout + v.Stderr; v.Code != 0 || !strings.Contains(all, "warning") || !strings.Contains(all, "/dev/console") {
		t.Fatalf("aci:validate: exit %d, want 0 with warnings:\n%s", v.Code, all)
	}
	strict := mage("aci:validate", out, "-rkt")
	if all := strict.Stdout + strict.Stderr; strict.Code == 0 || !strings.Contains(all, "/dev/console (character device)") || !strings.Contains(all, "empty directory") {
		t.Fatalf("aci:validate -rkt: exit %d, want a failure naming the node and the fix:\n%s", strict.Code, all)
	}

	if err := os.Symlink("../../../..", filepath.Join(rootfs, "up")); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.aci")
	r := mage("aci:build", filepath.Join(dir, "layout"), bad)
	if all := r.Stdout + r.Stderr; r.Code == 0 || !strings.Contains(all, "rootfs/up") || !strings.Contains(all, "escapes the rootfs") {
		t.Fatalf("aci:build with an escaping symlink: exit %d, want a failure naming rootfs/up:\n%s", r.Code, all)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("aci:build left %s behind: %v", bad, err)
	}
}
