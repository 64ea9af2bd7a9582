package fsutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes path atomically: fill writes into a temporary file in the
// same directory, which is synced and renamed over path only when fill
// succeeds. On any error the temporary file is removed and path is untouched.
// The temporary is locked while it is written (see SweepStale); temporaries
// of path left by dead runs are removed first.
func WriteFile(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sweepFor(path)
	f, err := CreateTempLocked(dir, tempPattern(filepath.Base(path)))
	if err != nil {
		return err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			os.Remove(tmp)
		}
		f.Close() // drops the lock, after the rename or the removal
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// WriteFileBytes is WriteFile for data already in memory.
func WriteFileBytes(path string, data []byte, perm os.FileMode) error {
	return WriteFile(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// ReplaceDir builds a directory atomically: fill populates a fresh
// temporary directory beside final, which then replaces final in two
// renames. On error the temporary directory is removed and final is left as
// it was. The temporary is locked while it is filled (see SweepStale);
// temporaries of final left by dead runs are removed first.
func ReplaceDir(final string, fill func(tmp string) error) (err error) {
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	sweepFor(final)
	lt, err := MkdirTempLocked(parent, tempPattern(filepath.Base(final)))
	if err != nil {
		return err
	}
	tmp := lt.Path
	defer func() {
		if err != nil {
			_ = RemoveAll(tmp)
		}
		lt.Release()
	}()
	if err = fill(tmp); err != nil {
		return err
	}
	// MkdirTemp creates 0700; a finished directory is world-readable.
	if err = os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	old := ""
	if _, statErr := os.Lstat(final); statErr == nil {
		old = final + ".old"
		_ = RemoveAll(old)
		if err = os.Rename(final, old); err != nil {
			return fmt.Errorf("moving %s aside: %w", final, err)
		}
	}
	if err = os.Rename(tmp, final); err != nil {
		if old != "" {
			_ = os.Rename(old, final)
		}
		return err
	}
	if old != "" {
		_ = RemoveAll(old)
	}
	return syncDir(parent)
}

// RemoveAll removes a tree even when parts of it are read-only (as Go's
// module cache and some rootfs trees are).
func RemoveAll(path string) error {
	err := os.RemoveAll(path)
	if err == nil {
		return nil
	}
	_ = filepath.Walk(path, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not all filesystems support directory sync
	return nil
}
