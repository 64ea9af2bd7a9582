package aci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecialFilesFaithfulButFlagged packs the fixture tree (a FIFO, and
// as root character and block devices) faithfully, then checks that the
// archive's special files are listed, that RktCheck refuses it naming each
// one and the fix, and that after RemoveSpecialFiles the tree packs to an
// image RktCheck accepts with /dev still an empty directory.
func TestSpecialFilesFaithfulButFlagged(t *testing.T) {
	dir, out, _ := packFixture(t, PackOptions{})
	want := map[string]string{"/dev/initctl": "FIFO"}
	if isRoot() {
		want["/dev/null"] = "character device"
		want["/dev/loop0"] = "block device"
	}
	found, err := SpecialFiles(out)
	must(t, err)
	got := map[string]string{}
	for _, s := range found {
		got[s.Name] = s.Kind
	}
	for name, kind := range want {
		if got[name] != kind {
			t.Errorf("SpecialFiles: %s = %q, want %q (all: %v)", name, got[name], kind, found)
		}
	}
	inTree, err := SpecialFilesInTree(filepath.Join(dir, "rootfs"))
	must(t, err)
	if len(inTree) != len(found) {
		t.Errorf("tree has %v, archive has %v", inTree, found)
	}
	err = RktCheck(out)
	if !errors.Is(err, ErrRktUnrenderable) {
		t.Fatalf("RktCheck = %v, want ErrRktUnrenderable", err)
	}
	for name := range want {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("RktCheck error does not name %s: %v", name, err)
		}
	}
	if !strings.Contains(err.Error(), "hangs") || !strings.Contains(err.Error(), "empty directory") {
		t.Errorf("RktCheck error does not explain the hang and the fix: %v", err)
	}

	removed, err := RemoveSpecialFiles(filepath.Join(dir, "rootfs"))
	must(t, err)
	if len(removed) != len(found) {
		t.Errorf("removed %v, want %v", removed, found)
	}
	fi, err := os.Lstat(filepath.Join(dir, "rootfs", "dev"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("rootfs/dev after RemoveSpecialFiles: %v, %v", fi, err)
	}
	clean := filepath.Join(t.TempDir(), "clean.aci")
	_, err = Pack(context.Background(), dir, clean, PackOptions{})
	must(t, err)
	must(t, RktCheck(clean))
	must(t, Validate(clean))
}

// TestPackRefusesWhatValidateRefuses: pack must fail, writing nothing, on
// trees whose archive the validator would reject.
func TestPackRefusesWhatValidateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, link, target, want string
	}{
		{"symlink up to the host root", "up", "../../../..", "escapes the rootfs"},
		{"symlink one level out", "out", "..", "escapes the rootfs"},
		{"nested symlink out", "etc/x", "../../../etc", "escapes the rootfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "manifest"), []byte(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x"}`), 0o644))
			must(t, os.Symlink(tc.target, filepath.Join(dir, "rootfs", tc.link)))
			out := filepath.Join(t.TempDir(), "bad.aci")
			_, err := Pack(context.Background(), dir, out, PackOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rootfs/"+tc.link) {
				t.Fatalf("Pack = %v, want an error naming rootfs/%s and %q", err, tc.link, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("Pack left %s behind (stat: %v)", out, err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(left) != 0 {
				t.Errorf("Pack left files behind: %v", left)
			}
		})
	}
}
