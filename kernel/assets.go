package kernel

import (
	"embed"

	"github.com/rktbuild/rktbuild/patch"
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
	return patch.AssetDir(dir, Assets, name, work)
}
