package kernel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"

	"time"

	"github.com/rktbuild/rktbuild/patch"
)

// makePatch writes a tree with file f = before and returns a unified diff
// (made by the real diff tool) that turns it into after.
func makePatch(t *testing.T, dir, f, before, after string) string {
	t.Helper()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	testutil.WriteFile(t, filepath.Join(a, f), before)
	testutil.WriteFile(t, filepath.Join(b, f), after)
	out, _ := exec.Command("diff", "-u", "--label", "a/"+f, "--label", "b/"+f, filepath.Join(a, f), filepath.Join(b, f)).Output()
	if len(out) == 0 {
		t.Fatal("diff produced nothing")
	}
	p := filepath.Join(dir, strings.ReplaceAll(f, "/", "-")+".patch")
	testutil.WriteFile(t, p, string(out))
	return p
}

func TestApplyPatchesIdempotent(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		testenv.Skip(t, "needs the patch tool (apt-get install patch)")
	}
	ctx := context.Background()
	tree := t.TempDir()
	patches := t.TempDir()
	reboot := "int a;\n\tcase HALT:\n\t\tkernel_halt();\n\t\tdo_exit(0);\nint b;\n"
	testutil.WriteFile(t, filepath.Join(tree, "kernel/reboot.c"), reboot)
	testutil.WriteFile(t, filepath.Join(tree, "Makefile"), "all:\n")
	p1 := makePatch(t, patches, "kernel/reboot.c", reboot, strings.Replace(reboot, "kernel_halt();", "kernel_restart(\"rkt\");", 1))
	// A patch that only adds lines: its second application would succeed
	// at an offset if the tool did not check the reverse first.
	p2 := makePatch(t, patches, "Makefile", "all:\n", "all:\n\t@echo patched\n")

	res, err := patch.Apply(ctx, tree, "test tree", []string{p1, p2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != "applied" || res[1].Status != "applied" {
		t.Fatalf("first run: %+v", res)
	}
	got, _ := os.ReadFile(filepath.Join(tree, "kernel/reboot.c"))
	if !strings.Contains(string(got), `kernel_restart("rkt");`) {
		t.Fatalf("patch not applied:\n%s", got)
	}

	// Second run: both already applied, tree unchanged.
	res, err = patch.Apply(ctx, tree, "test tree", []string{p1, p2})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != "already applied" || res[1].Status != "already applied" {
		t.Fatalf("second run: %+v", res)
	}
	mk, _ := os.ReadFile(filepath.Join(tree, "Makefile"))
	if strings.Count(string(mk), "patched") != 1 {
		t.Errorf("additive patch applied twice:\n%s", mk)
	}
	if m, _ := filepath.Glob(filepath.Join(tree, "*", "*.rej")); len(m) > 0 {
		t.Errorf("reject files left: %v", m)
	}

	// A patch that does not apply either way: error naming it, tree intact.
	bad := makePatch(t, patches, "kernel/reboot.c", "something else\n", "something new\n")
	before, _ := os.ReadFile(filepath.Join(tree, "kernel/reboot.c"))
	_, err = patch.Apply(ctx, tree, "test tree", []string{p1, bad})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "does not apply") {
		t.Fatalf("error %v should name %s", err, bad)
	}
	after, _ := os.ReadFile(filepath.Join(tree, "kernel/reboot.c"))
	if string(before) != string(after) {
		t.Error("a failed patch changed the tree")
	}
	if _, err := patch.Apply(ctx, tree, "test tree", []string{filepath.Join(patches, "missing.patch")}); err == nil || !strings.Contains(err.Error(), "missing.patch") {
		t.Errorf("missing patch: %v", err)
	}
}

// TestRebootPatch checks that the shipped reboot patch applies to the
// reboot syscall of Linux 6.1 (an excerpt of Debian's linux-source-6.1
// kernel/reboot.c, GPL-2.0, in testdata/kernel) and is then detected as
// applied. The e2e test applies it to the whole tree and boots the result.
func TestRebootPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		testenv.Skip(t, "needs the patch tool (apt-get install patch)")
	}
	tree := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "kernel", "linux-6.1-reboot", "kernel", "reboot.c"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(tree, "kernel", "reboot.c"), string(src))
	patches, err := patch.List("patches")
	if err != nil || len(patches) == 0 {
		t.Fatalf("no patches in kernel/patches: %v", err)
	}
	for i, want := range []string{"applied", "already applied"} {
		res, err := patch.Apply(context.Background(), tree, "linux 6.1 excerpt", patches)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		for _, r := range res {
			if r.Status != want {
				t.Errorf("run %d: %s %s, want %s", i, r.Patch, r.Status, want)
			}
		}
	}
	got, _ := os.ReadFile(filepath.Join(tree, "kernel", "reboot.c"))
	if !strings.Contains(string(got), `kernel_restart("rkt: guest halted");`) || strings.Contains(string(got), "\t\tkernel_halt();") {
		t.Errorf("reboot.c does not restart on halt after patching:\n%s", got)
	}
}

// TestPrepareSource unpacks a small tarball with real tar and patch, then
// changes the patch set: only files the old or new patches touch get a new
// mtime; a new tarball makes every file new.
func TestPrepareSource(t *testing.T) {
	for _, tool := range []string{"tar", "patch"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s", tool)
		}
	}
	ctx := context.Background()
	dir := t.TempDir()
	orig := map[string]string{"Makefile": "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 1\nEXTRAVERSION =\n", "kernel/reboot.c": "halt();\n", "fs/9p/v9fs.c": "nine();\n", "init/main.c": "main();\n"}
	for f, c := range orig {
		testutil.WriteFile(t, filepath.Join(dir, "linux-6.1.1", f), c)
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = filepath.Walk(filepath.Join(dir, "linux-6.1.1"), func(p string, fi os.FileInfo, err error) error {
		return os.Chtimes(p, old, old)
	})
	tarball := filepath.Join(dir, "linux-6.1.1.tar")
	if out, err := exec.Command("tar", "-cf", tarball, "-C", dir, "linux-6.1.1").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	pdir := t.TempDir()
	pa := makePatch(t, pdir, "kernel/reboot.c", "halt();\n", "restart();\n")
	pb := makePatch(t, pdir, "fs/9p/v9fs.c", "nine();\n", "nine_p();\n")
	src := filepath.Join(t.TempDir(), "src")
	mtime := func(f string) time.Time {
		fi, err := os.Stat(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}

	// First unpack: every file is new (--touch).
	start := time.Now().Add(-time.Second)
	if err := prepareSource(ctx, SourceDistro, tarball, []string{pa}, src); err != nil {
		t.Fatal(err)
	}
	if mtime("init/main.c").Before(start) {
		t.Error("first unpack kept the tarball's mtimes")
	}
	m := readMarker(filepath.Join(src, markerName))
	if m == nil || strings.Join(m.Touched, ",") != "kernel/reboot.c" || len(m.Applied) != 1 {
		t.Fatalf("marker %+v", m)
	}

	// Patch set changes from A to B: A's file (reverted) and B's file are
	// new, the rest keeps the tarball's mtime.
	start = time.Now().Add(-time.Second)
	if err := prepareSource(ctx, SourceDistro, tarball, []string{pb}, src); err != nil {
		t.Fatal(err)
	}
	if !mtime("init/main.c").Equal(old) {
		t.Errorf("untouched file mtime %v, want the tarball's %v", mtime("init/main.c"), old)
	}
	for _, f := range []string{"kernel/reboot.c", "fs/9p/v9fs.c"} {
		if mtime(f).Before(start) {
			t.Errorf("%s was not touched", f)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(src, "kernel/reboot.c")); string(b) != "halt();\n" {
		t.Errorf("reverted patch still applied: %q", b)
	}

	// A failing patch leaves the previous tree as it was.
	bad := makePatch(t, pdir, "init/main.c", "other();\n", "x();\n")
	if err := prepareSource(ctx, SourceDistro, tarball, []string{pb, bad}, src); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad patch: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "fs/9p/v9fs.c")); string(b) != "nine_p();\n" {
		t.Errorf("tree changed after a failed patch: %q", b)
	}
}
