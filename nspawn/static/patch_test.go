package static

import (
	"bytes"
	"context"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/patch"
)

const patchOK = `Header text explaining the patch; patch(1) ignores it.

--- a/meson.build
+++ b/meson.build
@@ -1,3 +1,4 @@
 project('x')
 a = 1
+b = 2
 c = 3
`

const patchStale = `--- a/meson.build
+++ b/meson.build
@@ -1,3 +1,4 @@
 project('y')
 q = 1
+r = 2
 s = 3
`

func TestApplyPatches(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		testenv.Skip(t, "needs patch(1): apt-get install patch")
	}
	ctx := context.Background()
	tree := t.TempDir()
	pdir := t.TempDir()
	orig := "project('x')\na = 1\nc = 3\n"
	if err := os.WriteFile(filepath.Join(tree, "meson.build"), []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(pdir, "0001-ok.patch")
	stale := filepath.Join(pdir, "0002-stale.patch")
	if err := os.WriteFile(ok, []byte(patchOK), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte(patchStale), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := patch.List(pdir)
	if err != nil || len(list) != 2 || list[0] != ok {
		t.Fatalf("Patches = %v, %v", list, err)
	}
	want := "project('x')\na = 1\nb = 2\nc = 3\n"
	// Applied once, then again: the second run is a no-op.
	for i := 0; i < 2; i++ {
		if _, err := patch.Apply(ctx, tree, "test tree", []string{ok}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		got, _ := os.ReadFile(filepath.Join(tree, "meson.build"))
		if string(got) != want {
			t.Fatalf("run %d: meson.build =\n%s", i, got)
		}
	}
	// A patch that no longer applies names itself and leaves the tree alone.
	_, err = patch.Apply(ctx, tree, "systemd 999", list)
	if err == nil || !strings.Contains(err.Error(), "0002-stale.patch does not apply to systemd 999") {
		t.Fatalf("error %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(tree, "meson.build"))
	if string(got) != want {
		t.Fatalf("tree changed by a failing patch:\n%s", got)
	}
	if entries, _ := os.ReadDir(tree); len(entries) != 1 {
		t.Errorf("patch left files behind: %v", entries)
	}
}

// The repository's own patches must at least be well-formed and explained.
func TestRepoPatchesHaveHeaders(t *testing.T) {
	list, err := patch.List(filepath.Join("..", "patches", "systemd"))
	if err != nil || len(list) == 0 {
		t.Fatalf("no patches in nspawn/patches/systemd: %v", err)
	}
	for _, p := range list {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		head, _, ok := strings.Cut(string(data), "\n--- a/")
		if !ok {
			t.Errorf("%s: no unified diff", p)
		}
		if !strings.Contains(head, "Why:") {
			t.Errorf("%s: the comment header must say why (a \"Why:\" paragraph)", p)
		}
	}
}

// TestEmbeddedPatches is the regression test for imported targets that
// could not build nspawn: without a nspawn/patches directory in the working
// tree, the build uses the embedded copy, byte for byte the checkout's.
func TestEmbeddedPatches(t *testing.T) {
	dir := t.TempDir()
	o, err := Options{Release: "bookworm", BuildIn: "host", Dir: dir, PatchDir: filepath.Join(dir, "no-such-checkout", "nspawn", "patches")}.withDefaults().withPatches()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Check(); err != nil {
		t.Fatalf("Check with embedded patches: %v", err)
	}
	want, err := patch.List(filepath.Join("..", "patches", "systemd"))
	if err != nil || len(want) == 0 {
		t.Fatalf("checkout patches: %v %v", want, err)
	}
	got, err := patch.List(filepath.Join(o.PatchDir, "systemd"))
	if err != nil || len(got) != len(want) {
		t.Fatalf("embedded patches = %v, %v; want %d like %v", got, err, len(want), want)
	}
	for i := range want {
		a, _ := os.ReadFile(want[i])
		b, _ := os.ReadFile(got[i])
		if filepath.Base(want[i]) != filepath.Base(got[i]) || !bytes.Equal(a, b) {
			t.Errorf("embedded %s differs from the checkout's %s", got[i], want[i])
		}
	}
	// In a checkout, the checkout's directory is used as is.
	local := filepath.Join("..", "patches")
	if o, err := (Options{Dir: dir, PatchDir: local}).withPatches(); err != nil || o.PatchDir != local {
		t.Errorf("checkout PatchDir = %q, %v; want %q", o.PatchDir, err, local)
	}
}
