package images

import (
	"path/filepath"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/rootfs"
)

// RootfsOptions returns the options the ROOTFS_* keys describe, building into
// <S1B_BUILD_DIR>/rootfs/<suite>-<arch> with the cache under CACHE_DIR.
func RootfsOptions(c *config.Config) rootfs.Options {
	return rootfs.Options{
		Suite:      c.RootfsSuite,
		Mirror:     c.RootfsMirror,
		Keyring:    c.RootfsKeyring,
		Variant:    c.RootfsVariant,
		Components: c.RootfsComponents,
		Packages:   c.RootfsPackages,
		Overlay:    c.RootfsOverlay,
		Arch:       c.RootfsArch,
		Builder:    c.RootfsBuilder,
		Dir:        filepath.Join(c.BuildDir, "rootfs", c.RootfsSuite+"-"+c.RootfsArch),
		CacheDir:   DebCache(c),
	}
}

// DebCache is the .deb cache directory under CACHE_DIR.
func DebCache(c *config.Config) string {
	return filepath.Join(c.CacheDir, "debs", c.RootfsSuite+"-"+c.RootfsArch)
}
