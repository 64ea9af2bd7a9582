//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
)

// TestStage1 is the main job end to end: buildStage1 with the default
// kernel source (the distribution's linux-source package) into temporary
// directories, a smoke boot of the result under qemu with rkt's 9p device
// model, and a second buildStage1 that must compile nothing and finish in
// seconds. Run: go test -tags e2e -timeout 90m -run Stage1 ./e2e/
func TestStage1(t *testing.T) {
	for _, tool := range []string{"make", "gcc", "flex", "bison", "bc", "xz", "patch", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s (see `mage doctor`)", tool)
		}
	}
	if m, _ := filepath.Glob("/usr/src/linux-source-*.tar.*"); len(m) == 0 && os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to install the linux-source package, or it installed")
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Minute))
		defer cancel()
	}
	tmp := t.TempDir()
	env := []string{
		"S1B_OUT_DIR=" + filepath.Join(tmp, "out"),
		"S1B_BUILD_DIR=" + filepath.Join(tmp, "build"),
		"CACHE_DIR=" + filepath.Join(tmp, "cache"),
		"SIGNING_KEY=" + filepath.Join(tmp, "keys", "stage1"),
		"TRUST_DIR=" + filepath.Join(tmp, "trust"),
		"S1B_KERNEL_VERSION=",
		"S1B_KERNEL_SOURCE=auto",
		"S1B_JOBS=2",
		"S1B_QEMU_ACCEL=tcg",
		"S1B_UPSTREAM_STAGE1_KVM_ACI=",
		"SOURCE_DATE_EPOCH=",
	}

	// 1. The build.
	out, took, err := runMage(ctx, env, "-v", "buildStage1")
	if err != nil {
		t.Fatalf("buildStage1 failed after %s: %v\n%s", took, err, testutil.Tail(out, 80))
	}
	t.Logf("first buildStage1: %s", took.Round(time.Second))
	m := regexp.MustCompile(`built (\S+stage1-kvm-1\.30\.0-linux-(\S+)\.aci) with id (sha512-[0-9a-f]{128})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no `built ... with id sha512-...` line:\n%s", testutil.Tail(out, 40))
	}
	file, release, id := m[1], m[2], m[3]
	if !strings.HasSuffix(release, "-rktbuild-v1") {
		t.Errorf("release %s lacks S1B_KERNEL_VERSION_SUFFIX", release)
	}
	if !strings.Contains(out, "kernel patch 0001-reboot-halt-returns-control-to-host.patch: applied") {
		t.Errorf("the reboot patch was not reported applied:\n%s", testutil.Tail(out, 40))
	}
	for _, f := range []string{file, file + ".asc"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if v, _, err := runMage(ctx, env, "aci:validate", file); err != nil {
		t.Errorf("aci:validate: %v\n%s", err, v)
	}
	trees, _ := filepath.Glob(filepath.Join(tmp, "build", "kernel", "distro-*", "out"))
	if len(trees) != 1 {
		t.Fatalf("kernel build trees: %v", trees)
	}
	cfg, err := os.ReadFile(filepath.Join(trees[0], ".config"))
	if err != nil || !strings.Contains(string(cfg), `CONFIG_LOCALVERSION="-rktbuild-v1"`) {
		t.Error("CONFIG_LOCALVERSION not set in the final .config")
	}

	// 2. Boot it.
	sout, stook, err := runMage(ctx, env, "stage1:smoke")
	if err != nil {
		t.Fatalf("stage1:smoke failed after %s: %v\n%s", stook, err, testutil.Tail(sout, 80))
	}
	if strings.Contains(sout, ": ran ") && !strings.Contains(sout, "stage1:smoke-rootfs: ran") || strings.Count(sout, ": ran ") > 1 {
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

	// 3. No-op rebuild: nothing ran, same image, seconds.
	image := filepath.Join(trees[0], "arch", "x86", "boot", "bzImage")
	before, _ := os.Stat(image)
	out2, took2, err := runMage(ctx, env, "-v", "buildStage1")
	if err != nil {
		t.Fatalf("second buildStage1: %v\n%s", err, testutil.Tail(out2, 40))
	}
	t.Logf("no-op buildStage1: %s", took2.Round(time.Millisecond))
	if strings.Contains(out2, ": ran ") || strings.Contains(out2, ": running (") {
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
}
