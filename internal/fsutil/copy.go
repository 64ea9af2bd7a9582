package fsutil

import (
	"fmt"
	"io"
	"os"

	cp "github.com/otiai10/copy"
)

// CopyFile copies src to dst atomically with mode perm (0 keeps src's
// permission bits).
func CopyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if perm == 0 {
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		perm = fi.Mode().Perm()
	}
	if err := WriteFile(dst, perm, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// CopyTree copies the tree src into dst (created when missing), keeping
// symlinks as links and permission bits.
func CopyTree(src, dst string) error {
	if err := cp.Copy(src, dst, cp.Options{
		OnSymlink: func(string) cp.SymlinkAction { return cp.Shallow },
	}); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}
