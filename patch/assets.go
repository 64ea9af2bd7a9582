package patch

import (
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"io/fs"
	"os"
	"path/filepath"
)

// AssetDir returns local when that directory exists (a checkout, where
// contributors add a patch by adding a file), else a copy of the directory
// name of the embedded fsys written below work/embedded. A repository that
// imports rktbuild's targets has no such directory in its working tree and
// gets the embedded copy. Files already up to date are not rewritten, so
// their mtimes (and the builds keyed on them) stay put.
func AssetDir(local string, fsys fs.FS, name, work string) (string, error) {
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	out := filepath.Join(work, "embedded", name)
	sub, err := fs.Sub(fsys, name)
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(out, filepath.FromSlash(p))
		if old, err := os.ReadFile(dst); err == nil && string(old) == string(data) {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return fsutil.WriteFileBytes(dst, data, 0o644)
	})
	return out, err
}
