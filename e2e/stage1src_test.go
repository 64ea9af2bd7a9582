//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/stage1"
	"github.com/rktbuild/rktbuild/stage1/upstream"
)

// Markers the probe app prints.
const (
	s1srcStart   = "RKTBUILD-PROBE-START"
	s1srcRelease = "RKTBUILD-PROBE-RELEASE="
	s1srcHeaders = "RKTBUILD-PROBE-HEADERS-OK"
	s1srcExit    = 7 // the probe's exit code, which rkt status must show
)

// s1srcNeed fails under CI=true and skips elsewhere when a prerequisite is
// missing.
func s1srcNeed(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	testenv.Skip(t, why)
}

// TestStage1FromSource builds rkt 1.30.0's stage1-kvm from source
// (stage1:upstream) and our kernel layer flattened onto it
// (S1B_UPSTREAM_STAGE1_KVM_ACI=build) and depending on it, builds real
// rkt 1.30.0, and boots a probe app under qemu (TCG) with both:
// (a) rkt run --stage1-path=<flattened>, (b) rkt fetch of the from-source
// upstream (signature checked against the trusted key) and rkt run
// --stage1-path=<dependent>. The probe prints uname -r, checks
// /lib/modules/$(uname -r)/include and .../source/include and exits 7; rkt
// status must show app-probe=7, and rkt gc must leave no pod. rkt runs in
// a private network and mount namespace with /var/lib/cni bind-mounted
// from a temp dir, --net=default-restricted.
//
// The kernel is machine A's (sharedStage1Fleet): the build here takes it
// and its headers from the fleet's HTTP step store, compiling nothing.
//
// Run: E2E_WORK=/work/e2e-i11 go test -tags e2e -timeout 120m -run Stage1FromSource ./e2e/
func TestStage1FromSource(t *testing.T) {
	s1srcNeed(t, os.Geteuid() == 0, "needs root (rkt run, network namespaces, tap devices)")
	for _, tool := range []string{"make", "gcc", "flex", "bison", "bc", "unshare", "iptables", "ip", "flock", "apt-get", "dpkg-deb"} {
		_, err := exec.LookPath(tool)
		s1srcNeed(t, err == nil, "needs "+tool+" (see .ci/packages)")
	}
	busybox := "/bin/busybox"
	_, err := os.Stat(busybox)
	s1srcNeed(t, err == nil, "needs a static busybox at /bin/busybox (package busybox-static)")
	stage1Prereqs(t)
	t.Parallel() // it waits for machine A's kernel, then builds no kernel of its own

	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Minute))
		defer cancel()
	}
	// The kernel comes from the stage1 fleet's step store, filled by
	// machine A's build (TestStage1): one kernel build for both tests.
	f := sharedStage1Fleet(t, ctx)
	work := filepath.Join(sharedRoot, "stage1src") // E2E_WORK keeps it between runs
	common := []string{
		"S1B_BUILD_DIR=" + filepath.Join(work, "build"),
		"CACHE_DIR=" + filepath.Join(work, "cache"),
		"SIGNING_KEY=" + filepath.Join(work, "keys", "stage1"),
		"TRUST_DIR=" + filepath.Join(work, "trust"),
		"S1B_KERNEL_VERSION=",
		"S1B_KERNEL_SOURCE=auto",
		"S1B_JOBS=2",
		"S1B_QEMU_ACCEL=tcg",
		"S1B_STAGE1_QEMU_ACCEL=tcg", // nested KVM does not work on these machines
		"SOURCE_DATE_EPOCH=",
		"S1B_CCACHE=on",
		"S1B_REMOTE_CACHE=" + f.Store,
		"CCACHE_LOGFILE=" + CompileLog(work),
	}
	flatOut, depOut := filepath.Join(work, "out-flat"), filepath.Join(work, "out-dep")

	// 1. The flattened image (builds the kernel and the from-source
	// upstream), then the dependent one (reuses both). At most one kernel
	// build runs on the machine: hold the lock.
	build := func(out, upstreamACI string) (string, string) {
		t.Helper()
		env := append(append([]string{}, common...), "S1B_OUT_DIR="+out, "S1B_UPSTREAM_STAGE1_KVM_ACI="+upstreamACI)
		log, took, err := runMageLocked(ctx, env, "-v", "buildStage1")
		if err != nil {
			t.Fatalf("buildStage1 (S1B_UPSTREAM_STAGE1_KVM_ACI=%q) failed after %s: %v\n%s", upstreamACI, took, err, testutil.Tail(log, 80))
		}
		m := regexp.MustCompile(`built (\S+stage1-kvm-1\.30\.0-linux-(\S+)\.aci) with id`).FindStringSubmatch(log)
		if m == nil {
			t.Fatalf("no `built ... with id` line:\n%s", testutil.Tail(log, 40))
		}
		t.Logf("buildStage1 S1B_UPSTREAM_STAGE1_KVM_ACI=%q: %s", upstreamACI, took.Round(time.Second))
		// A kernel build step that runs here must be answered by the
		// step store (machine A's kernel), never by the compiler.
		if stepRan(log, "kernel:build:") {
			if !strings.Contains(log, "kernel: remote cache hit") || strings.Contains(log, "  CC ") {
				t.Errorf("the kernel was compiled again instead of taken from the stage1 fleet's step store:\n%s", testutil.Tail(log, 60))
			} else {
				t.Logf("kernel taken from the step store (machine A's build)")
			}
			// kconfig's host programs still go through ccache: answered
			// by the fleet's HTTP ccache storage, never compiled.
			if cc := kernelCompiles(t, work); len(cc) != 0 {
				t.Errorf("the from-source build compiled %d kernel files: %v", len(cc), firstFew(cc, 10))
			}
		}
		if um := regexp.MustCompile(`(?m)^built (\S+rkt-stage1-kvm-1\.30\.0-src\.aci) with id .* in (\S+)$`).FindStringSubmatch(log); um != nil {
			t.Logf("from-source upstream stage1 built in %s", um[2])
		}
		return m[1], m[2]
	}
	flat, release := build(flatOut, "build")
	dep, _ := build(depOut, "")
	up := filepath.Join(flatOut, upstream.FileName(stage1.RktVersion{Major: 1, Minor: 30, Patch: 0}))
	for _, f := range []string{flat, dep, up} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("image %s: %.1f MiB", filepath.Base(f), float64(fi.Size())/(1<<20))
	}
	fm, err := aci.ReadManifest(flat)
	if err != nil {
		t.Fatal(err)
	}
	if len(fm.Dependencies) != 0 {
		t.Errorf("flattened image has dependencies: %v", fm.Dependencies)
	}
	dm, err := aci.ReadManifest(dep)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Dependencies) != 1 || dm.Dependencies[0].ImageName.String() != "coreos.com/rkt/stage1-kvm" {
		t.Errorf("dependent image dependencies: %v", dm.Dependencies)
	}

	// 3. The probe app.
	app := s1srcProbeACI(t, ctx, busybox, filepath.Join(work, "probe"))

	pub := filepath.Join(work, "keys", "stage1.pub.asc")
	variants := []struct {
		name, stage1 string
		fetch        string // an image rkt fetch puts into the store first
	}{
		{"flattened", flat, ""},
		{"dependent", dep, up},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sb := rktSandbox(t) // real rkt 1.30.0, built once per suite run
			if v.fetch != "" {
				if err := sb.Trust(ctx, "coreos.com/rkt/stage1-kvm", pub); err != nil {
					t.Fatal(err)
				}
				out, err := s1srcRkt(ctx, t, sb, "", "fetch", v.fetch)
				if err != nil {
					t.Fatalf("rkt fetch %s (signature checked): %v\n%s", v.fetch, err, out)
				}
				if !strings.Contains(out, "sha512-") {
					t.Errorf("rkt fetch printed no image id:\n%s", out)
				}
			}
			uuidFile := filepath.Join(t.TempDir(), "uuid")
			start := time.Now()
			out, markers, err := s1srcRun(ctx, t, sb, uuidFile, v.stage1, app)
			took := time.Since(start)
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == s1srcExit) {
				t.Fatalf("rkt run --stage1-path=%s: %v\n%s", v.stage1, err, testutil.Tail(out, 80))
			}
			if !strings.Contains(out, s1srcStart) {
				t.Fatalf("the probe never ran:\n%s", testutil.Tail(out, 80))
			}
			if got := s1srcValue(out, s1srcRelease); got != release {
				t.Errorf("uname -r in the pod = %q, want the kernel's release %q", got, release)
			}
			if !strings.Contains(out, s1srcHeaders) {
				t.Errorf("the probe did not see /lib/modules/%s/include and source/include:\n%s", release, testutil.Tail(out, 40))
			}
			t.Logf("%s: rkt run took %s; boot (qemu start -> app marker) %s; rkt run start -> marker %s",
				v.name, took.Round(time.Millisecond), markers.boot(), markers.sinceStart())

			uuid, err := os.ReadFile(uuidFile)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s1srcRkt(ctx, t, sb, "", "status", strings.TrimSpace(string(uuid)))
			if err != nil {
				t.Fatalf("rkt status: %v\n%s", err, st)
			}
			if !strings.Contains(st, fmt.Sprintf("app-probe=%d", s1srcExit)) {
				t.Errorf("rkt status does not show the probe's exit code %d:\n%s", s1srcExit, st)
			}
			if out, err := s1srcRkt(ctx, t, sb, "", "gc", "--grace-period=0s"); err != nil {
				t.Fatalf("rkt gc: %v\n%s", err, out)
			}
			list, err := s1srcRkt(ctx, t, sb, "", "list", "--no-legend")
			if err != nil || strings.TrimSpace(list) != "" {
				t.Errorf("rkt list after gc: %q %v", list, err)
			}
			for _, d := range []string{"prepare", "prepared", "run", "exited-garbage", "garbage"} {
				if m, _ := filepath.Glob(filepath.Join(sb.Dir(), "pods", d, "*")); len(m) > 0 {
					t.Errorf("rkt gc left %v", m)
				}
			}
		})
	}
}

// runMageLocked is runMage holding the machine-wide kernel build lock
// (/tmp/rktbuild-kernel.lock): at most one kernel build runs at a time.
// (A dry run that says the kernel is up to date is not trusted to skip
// the lock: it once said so before a real run rebuilt the kernel.)
func runMageLocked(ctx context.Context, env []string, args ...string) (string, time.Duration, error) {
	f, err := os.OpenFile("/tmp/rktbuild-kernel.lock", os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return "", 0, fmt.Errorf("locking /tmp/rktbuild-kernel.lock: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return runMage(ctx, env, args...)
}

// s1srcProbeACI writes a tiny app image: a static busybox whose sh runs the
// probe.
func s1srcProbeACI(t *testing.T, ctx context.Context, busybox, dir string) string {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	m, err := aci.NewManifest("aci.rktbuild.local/e2e/probe", map[string]string{"version": "1"})
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`echo %s; r=$(/bin/busybox uname -r); echo %s$r; `+
		`if /bin/busybox test -d /lib/modules/$r/include && /bin/busybox test -d /lib/modules/$r/source/include; then echo %s; fi; exit %d`,
		s1srcStart, s1srcRelease, s1srcHeaders, s1srcExit)
	m.App = &types.App{Exec: types.Exec{"/bin/sh", "-c", script}, User: "0", Group: "0"}
	out := filepath.Join(dir, "probe.aci")
	if _, err := aci.PackRootfs(ctx, m, rootfs, out, aci.PackOptions{ForceRoot: true}); err != nil {
		t.Fatal(err)
	}
	return out
}

// s1srcRkt runs rkt in the sandbox's private mount namespace.
func s1srcRkt(ctx context.Context, t *testing.T, sb *rkt.Sandbox, _ string, args ...string) (string, error) {
	out, err := sb.Command(ctx, args...).CombinedOutput()
	return string(out), err
}

// bootMarks are the times the run's output showed qemu starting (the
// /qemu wrapper's line) and the probe's marker.
type bootMarks struct {
	start, kernel, marker time.Time
}

func (b bootMarks) boot() string {
	if b.kernel.IsZero() || b.marker.IsZero() {
		return "n/a"
	}
	return b.marker.Sub(b.kernel).Round(time.Millisecond).String()
}

func (b bootMarks) sinceStart() string {
	if b.marker.IsZero() {
		return "n/a"
	}
	return b.marker.Sub(b.start).Round(time.Millisecond).String()
}

// s1srcRun runs the probe with rkt run in a private network and mount
// namespace (loopback up, /var/lib/cni bind-mounted from a temp dir), and
// timestamps qemu's start and the probe's marker.
func s1srcRun(ctx context.Context, t *testing.T, sb *rkt.Sandbox, uuidFile, stage1, app string) (string, bootMarks, error) {
	cni := t.TempDir()
	argv := sb.Argv("--debug", "run", "--insecure-options=image", "--stage1-path="+stage1, "--net=default-restricted",
		"--uuid-file-save="+uuidFile, app)
	script := `set -e; ip link set lo up; mkdir -p /var/lib/cni; mount --bind "$CNI" /var/lib/cni; exec "$@"`
	full := append([]string{"unshare", "-n", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh"}, argv...)
	tctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(tctx, full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "CNI="+cni)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var marks bootMarks
	var buf strings.Builder
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			now := time.Now()
			mu.Lock()
			buf.WriteString(line + "\n")
			if marks.kernel.IsZero() && strings.Contains(line, "rktbuild qemu: starting") {
				marks.kernel = now
			}
			if marks.marker.IsZero() && strings.Contains(line, s1srcStart) {
				marks.marker = now
			}
			mu.Unlock()
		}
	}()
	marks.start = time.Now()
	err := cmd.Run()
	pw.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return buf.String(), marks, err
}

// s1srcValue returns the rest of the first line starting with prefix.
func s1srcValue(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, prefix); i >= 0 {
			return strings.TrimSpace(line[i+len(prefix):])
		}
	}
	return ""
}
