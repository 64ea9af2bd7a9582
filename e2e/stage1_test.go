//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/kernel"
)

var (
	builtRE = regexp.MustCompile(`built (\S+stage1-kvm-1\.30\.0-linux-(\S+)\.aci) with id (sha512-[0-9a-f]{128})`)
	// ranRE finds a step that ran (the step package prints "NAME: ran:
	// REASON (TIME)" and, under -v, "NAME: running (REASON)").
	ranRE = regexp.MustCompile(`: ran: |: running \(`)
)

// TestStage1 is the main job end to end, one cold kernel build and many
// checks on it:
//
//   - machine A: buildStage1 with the default kernel source (the
//     distribution's linux-source package), no SOURCE_DATE_EPOCH (one is
//     derived and printed), ccache on, and S1B_REMOTE_CACHE naming a
//     redis-server and an HTTP store that the test runs on loopback;
//   - the image validates and records the kernel source in annotations;
//   - a smoke boot under qemu with rkt's 9p device model;
//   - a no-op rebuild compiles nothing and takes seconds;
//   - machine B (clean build and cache directories, both remotes): the
//     kernel and headers come from the step store, zero compiler runs, and
//     the image is byte-identical to A's;
//   - a suffix change in A's tree recompiles a small fraction (ccache);
//   - an epoch round trip in A (a SOURCE_DATE_EPOCH build, then none
//     again) gives A's first image back, byte for byte;
//   - machine C (clean directories, redis only): make runs but every
//     compile is a ccache remote hit (zero cache misses), and the image is
//     byte-identical to A's. It runs last: a whole kernel's make, all hits.
//
// Machine A's build is shared with TestStage1FromSource and starts when
// the suite starts (stage1fleet_test.go, prestart_test.go).
//
// Run: E2E_WORK=DIR go test -tags e2e -timeout 90m -run Stage1 ./e2e/
func TestStage1(t *testing.T) {
	stage1Prereqs(t)
	// Its directories, servers and kernel are its own: it runs beside the
	// image and nspawn tests (their downloads overlap its compiles).
	t.Parallel()
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Minute))
		defer cancel()
	}
	f := sharedStage1Fleet(t, ctx)
	redis, store := f.Redis, f.Store
	a := filepath.Join(f.Root, "a")
	env := f.MachineEnv(a, redis+" "+store)

	// 1. The build (machine A, run once for the suite by the fleet).
	out, took := f.AOut, f.ATook
	t.Logf("first buildStage1: %s", took.Round(time.Second))
	m := builtRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no `built ... with id sha512-...` line:\n%s", testutil.Tail(out, 40))
	}
	file, release, id := m[1], m[2], m[3]
	imageA, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stA := f.AStats
	t.Logf("machine A ccache: %+v", stA)
	// E2E_WORK may keep A's tree from an earlier run: then nothing was
	// compiled this time and the cold-build checks have nothing to check.
	coldA := stepRan(out, "kernel:build:") && !strings.Contains(out, "kernel: remote cache hit")

	t.Run("Checks", func(t *testing.T) {
		if !strings.HasSuffix(release, "-rktbuild-v1") {
			t.Errorf("release %s lacks S1B_KERNEL_VERSION_SUFFIX", release)
		}
		if !regexp.MustCompile(`SOURCE_DATE_EPOCH is not set: using \d+, the changelog date of linux-source-\S+ \S+`).MatchString(out) {
			t.Errorf("no derived SOURCE_DATE_EPOCH reported:\n%s", testutil.Tail(out, 40))
		}
		if _, err := os.Stat(file + ".asc"); err != nil {
			t.Error(err)
		}
		if v, _, err := runMage(ctx, env, "aci:validate", file); err != nil {
			t.Errorf("aci:validate: %v\n%s", err, v)
		}
		man, _, err := runMage(ctx, env, "aci:manifest", file)
		if err != nil {
			t.Fatalf("aci:manifest: %v\n%s", err, man)
		}
		for _, want := range []string{`"rktbuild.io/kernel-source-kind"`, `"rktbuild.io/kernel-source-package"`, `"rktbuild.io/kernel-source-version"`, `"rktbuild.io/kernel-source-sha256"`} {
			if !strings.Contains(man, want) {
				t.Errorf("manifest lacks %s:\n%s", want, man)
			}
		}
		cfg, err := os.ReadFile(filepath.Join(kernelTree(t, a, release), ".config"))
		if err != nil || !strings.Contains(string(cfg), `CONFIG_LOCALVERSION="-rktbuild-v1"`) {
			t.Error("CONFIG_LOCALVERSION not set in the final .config")
		}
		// The source is unpacked and patched by its own step, which an
		// earlier run (E2E_WORK) may have done already.
		if stepRan(out, "kernel:source:") && !strings.Contains(out, "kernel patch 0001-reboot-halt-returns-control-to-host.patch: applied") {
			t.Errorf("the reboot patch was not reported applied:\n%s", testutil.Tail(out, 40))
		}
		if !coldA {
			t.Logf("machine A's kernel was kept from an earlier run (E2E_WORK): patch, compile and store checks skipped")
			return
		}
		if stA.Misses == 0 {
			t.Errorf("machine A compiled nothing through ccache: %+v", stA)
		}
		if !strings.Contains(out, "kernel: stored the kernel and headers in the remote cache") {
			t.Errorf("machine A did not store its kernel in the step store:\n%s", testutil.Tail(out, 40))
		}
	})

	// 3. No-op rebuild: nothing ran, same image, seconds.
	t.Run("NoOp", func(t *testing.T) {
		image := filepath.Join(kernelTree(t, a, release), "arch", "x86", "boot", "bzImage")
		before, _ := os.Stat(image)
		out2, took2, err := runMage(ctx, env, "-v", "buildStage1")
		if err != nil {
			t.Fatalf("second buildStage1: %v\n%s", err, testutil.Tail(out2, 40))
		}
		t.Logf("no-op buildStage1: %s", took2.Round(time.Millisecond))
		if ranRE.MatchString(out2) {
			t.Errorf("the second build ran steps:\n%s", testutil.Tail(out2, 40))
		}
		if !strings.Contains(out2, "with id "+id) {
			t.Errorf("the second build reports another image:\n%s", testutil.Tail(out2, 10))
		}
		if after, err := os.Stat(image); err != nil || before == nil || !after.ModTime().Equal(before.ModTime()) {
			t.Error("the kernel image was rebuilt")
		}
		if took2 > 60*time.Second {
			t.Errorf("no-op rebuild took %s, want seconds", took2)
		}
	})

	// sameImage builds on another machine and compares with A's image.
	sameImage := func(t *testing.T, name string, env []string) string {
		t.Helper()
		out, took, err := runMageLocked(ctx, env, "-v", "buildStage1")
		if err != nil {
			t.Fatalf("machine %s: buildStage1 failed after %s: %v\n%s", name, took, err, testutil.Tail(out, 60))
		}
		t.Logf("machine %s: buildStage1 %s", name, took.Round(time.Second))
		m := builtRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("machine %s: no `built` line:\n%s", name, testutil.Tail(out, 40))
		}
		data, err := os.ReadFile(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if m[3] != id || !bytes.Equal(data, imageA) {
			t.Errorf("machine %s built %s (%d bytes), machine A %s (%d bytes): not reproducible", name, m[3], len(data), id, len(imageA))
		}
		return out
	}

	// 4. Machine B: clean directories, both remotes: the step store
	// answers, nothing is compiled.
	t.Run("RemoteStepStore", func(t *testing.T) {
		b := filepath.Join(f.Root, "b")
		out := sameImage(t, "B", f.MachineEnv(b, redis+" "+store))
		if !strings.Contains(out, "kernel: remote cache hit") {
			t.Errorf("machine B did not take the kernel from the step store:\n%s", testutil.Tail(out, 40))
		}
		if strings.Contains(out, "  CC ") {
			t.Errorf("machine B compiled:\n%s", testutil.Tail(out, 40))
		}
		st := ccacheStats(t, filepath.Join(b, "cache"))
		t.Logf("machine B ccache: %+v", st)
		// kconfig's host programs (make olddefconfig) still go through
		// ccache: remote hits, no compile.
		if cc := kernelCompiles(t, b); len(cc) != 0 {
			t.Errorf("machine B compiled %d files (%v): %+v", len(cc), firstFew(cc, 10), st)
		}
	})

	// 2. Boot it.
	t.Run("Smoke", func(t *testing.T) {
		sout, stook, err := runMage(ctx, env, "stage1:smoke")
		if err != nil {
			t.Fatalf("stage1:smoke failed after %s: %v\n%s", stook, err, testutil.Tail(sout, 80))
		}
		if n := len(ranRE.FindAllString(sout, -1)); n > 1 || n == 1 && !strings.Contains(sout, "stage1:smoke-rootfs: ran") {
			t.Errorf("stage1:smoke rebuilt parts of the image:\n%s", testutil.Tail(sout, 20))
		}
		if !strings.Contains(sout, "smoke: kernel "+release+" booted") {
			t.Errorf("smoke did not report kernel %s:\n%s", release, testutil.Tail(sout, 20))
		}
		t.Logf("stage1:smoke: %s", stook.Round(time.Second))
		if bt := regexp.MustCompile(`boot time \(qemu start to the init's marker\) (\S+),`).FindStringSubmatch(sout); bt != nil {
			t.Logf("stage1:smoke boot time (qemu start -> init marker): %s", bt[1])
		} else {
			t.Errorf("stage1:smoke reported no boot time:\n%s", testutil.Tail(sout, 10))
		}
	})

	// Suffix change in A's tree: only what the release string reaches
	// is recompiled (ccache answers the rest), in about a minute.
	t.Run("SuffixChange", func(t *testing.T) {
		ccDir := filepath.Join(a, "cache", "kernel", "ccache")
		if err := kernel.ZeroCCacheStats(ctx, ccDir); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(CompileLog(a)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		other := append(append([]string(nil), env...), "S1B_KERNEL_VERSION_SUFFIX=-rktbuild-e2e")
		o, took, err := runMageLocked(ctx, other, "buildStage1")
		if err != nil {
			t.Fatalf("buildStage1 with another suffix: %v\n%s", err, testutil.Tail(o, 40))
		}
		st := ccacheStats(t, filepath.Join(a, "cache"))
		files, tools := splitTools(kernelCompiles(t, a))
		cc := append(files, tools...)
		t.Logf("FIGURE suffix change: %s, %d files compiled %v (ccache: %d misses incl. probes, %d hits); the cold build had %d misses", took.Round(time.Second), len(cc), firstFew(cc, 20), st.Misses, st.Hits, stA.Misses)
		for _, l := range strings.Split(o, "\n") {
			if strings.Contains(l, ": ran: ") {
				t.Logf("suffix change step: %s", l)
			}
		}
		if m := builtRE.FindStringSubmatch(o); m == nil || !strings.HasSuffix(m[2], "-rktbuild-e2e") {
			t.Errorf("the new suffix is not in the release:\n%s", testutil.Tail(o, 10))
		}
		if len(cc) > stA.Misses/10 {
			t.Errorf("a suffix change compiled %d of %d files: not incremental", len(cc), stA.Misses)
		}
	})

	// 6. Epoch round trip in A's tree: a build with another epoch, then
	// none again, must give the first image back (the kernel's build
	// counter is pinned).
	t.Run("EpochRoundTrip", func(t *testing.T) {
		other := append(append([]string(nil), env...), "SOURCE_DATE_EPOCH=1600000000")
		o1, _, err := runMageLocked(ctx, other, "buildStage1")
		if err != nil {
			t.Fatalf("buildStage1 with SOURCE_DATE_EPOCH: %v\n%s", err, testutil.Tail(o1, 40))
		}
		if m := builtRE.FindStringSubmatch(o1); m == nil || m[3] == id {
			t.Errorf("another SOURCE_DATE_EPOCH gave the same image (or none):\n%s", testutil.Tail(o1, 10))
		}
		sameImage(t, "A (round trip)", env)
	})

	// 5. Machine C: clean directories, redis only: make runs, every
	// compile is answered by ccache's remote storage.
	t.Run("RemoteCCache", func(t *testing.T) {
		c := filepath.Join(f.Root, "c")
		out := sameImage(t, "C", f.MachineEnv(c, redis))
		st := ccacheStats(t, filepath.Join(c, "cache"))
		t.Logf("machine C ccache: %+v", st)
		// Every kernel object must come from the remote ccache. The
		// tools/ programs (objtool, libsubcmd) are compiled again: their
		// Makefiles pass absolute -Wp,-MT paths, which ccache hashes as
		// given, so no other build directory can hit them. Machine B,
		// with the step store, compiles nothing at all.
		files, tools := splitTools(kernelCompiles(t, c))
		t.Logf("FIGURE machine C (remote ccache only): %d kernel files compiled, %d tools/ files compiled %v", len(files), len(tools), firstFew(tools, 30))
		if len(files) != 0 || st.RemoteErrors != 0 {
			t.Errorf("machine C: %d kernel files compiled %v, %d remote errors; want 0:\n%s", len(files), firstFew(files, 10), st.RemoteErrors, testutil.Tail(out, 20))
		}
		if len(tools) > 40 {
			t.Errorf("machine C compiled %d tools/ files, more than objtool and libsubcmd have: %v", len(tools), firstFew(tools, 40))
		}
		if st.RemoteHits == 0 || st.RemoteHits < stA.Misses/2 {
			t.Errorf("machine C: %d remote hits for A's %d compiles", st.RemoteHits, stA.Misses)
		}
	})

}

// kernelTree is the kernel build tree (…/out) under a machine's root that
// built release (E2E_WORK may keep trees of other sources beside it).
func kernelTree(t *testing.T, root, release string) string {
	t.Helper()
	trees, _ := filepath.Glob(filepath.Join(root, "build", "kernel", "*", "out"))
	for _, tr := range trees {
		if b, err := os.ReadFile(filepath.Join(tr, "rktbuild-kernelrelease")); err == nil && strings.TrimSpace(string(b)) == release {
			return tr
		}
	}
	t.Fatalf("no kernel build tree under %s built %s (trees: %v)", root, release, trees)
	return ""
}
