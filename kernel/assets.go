package kernel

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rktbuild/rktbuild/step"
)

// Assets are the shipped configs, patches and pinned keys. Build reads
// them from kernel/ in the working directory (so contributors add a config
// or a patch by adding a file); a repository that imports rktbuild's
// targets has no kernel/ directory and gets these embedded copies.
//
//go:embed configs/* patches/*.patch keys/*.asc
var Assets embed.FS

// assetDir returns dir when it exists, else a copy of the embedded
// directory name written below work.
func assetDir(dir, name, work string) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	out := filepath.Join(work, "embedded", name)
	sub, err := fs.Sub(Assets, name)
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
		return step.WriteFileBytes(dst, data, 0o644)
	})
	return out, err
}
