package fsutil

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		p := filepath.Join(dir, "f")
		testutil.WriteFile(t, p, tc.content)
		got, err := HashFile(p)
		if err != nil || got != tc.want {
			t.Errorf("HashFile(%q) = %s, %v; want %s", tc.content, got, err, tc.want)
		}
	}
	if _, err := HashFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}

// Lock serialises holders: no two goroutines are inside at once, and a
// removeOnRelease lock leaves no file behind.
func TestLockExcludes(t *testing.T) {
	for _, remove := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "sub", "x.lock")
		var inside, worst atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				release, err := Lock(path, remove)
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > worst.Load() {
					worst.Store(n)
				}
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				release()
			}()
		}
		wg.Wait()
		if worst.Load() != 1 {
			t.Errorf("removeOnRelease=%v: %d holders at once", remove, worst.Load())
		}
		if _, err := os.Lstat(path); remove != os.IsNotExist(err) {
			t.Errorf("removeOnRelease=%v: lock file stat: %v", remove, err)
		}
	}
}

func TestCopyFileAndTree(t *testing.T) {
	src := t.TempDir()
	testutil.WriteFile(t, filepath.Join(src, "a", "f"), "data")
	if err := os.Chmod(filepath.Join(src, "a", "f"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(src, "a", "l")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := CopyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "a", "f")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("copied file: %v %v, want mode 0750", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "a", "l")); err != nil || l != "f" {
		t.Errorf("symlink copied as %q, %v; want a link to f", l, err)
	}
	for _, tc := range []struct {
		perm, want os.FileMode
	}{{0, 0o750}, {0o644, 0o644}} {
		out := filepath.Join(t.TempDir(), "g")
		if err := CopyFile(filepath.Join(src, "a", "f"), out, tc.perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(out)
		if data, _ := os.ReadFile(out); err != nil || fi.Mode().Perm() != tc.want || string(data) != "data" {
			t.Errorf("CopyFile perm %o: %v %v %q, want mode %o", tc.perm, fi, err, data, tc.want)
		}
	}
	if err := CopyFile(filepath.Join(src, "nope"), filepath.Join(dst, "x"), 0); err == nil {
		t.Error("copying a missing file succeeded")
	}
}
