//go:build e2e

package e2e

import (
	"path/filepath"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/rootfs"
)

// recipeSettings are the recipe settings `mage` maps from c
// (recipeSettings in targets/options.go), for tests that call the recipe
// pipeline directly or name the images `mage images` wrote.
func recipeSettings(c *config.Config) *recipes.Settings {
	epoch, has, _ := c.Epoch() // validated by config.Load
	return &recipes.Settings{
		Registry: c.ACIRegistry, ACIDir: c.ACIDir, OutDir: c.OutDir, BuildDir: c.BuildDir, CacheDir: c.CacheDir,
		BinsDir: c.BinsDir, StoreDir: c.StoreDir, GoVersion: c.GoVersion, Epoch: epoch, HasEpoch: has, Jobs: c.Jobs,
		Formats: c.ImageFormats, SigningKey: c.SigningKey,
		Rootfs: rootfs.Options{Suite: c.RootfsSuite, Mirror: c.RootfsMirror, Keyring: c.RootfsKeyring, Variant: c.RootfsVariant,
			Components: c.RootfsComponents, Packages: c.RootfsPackages, Overlay: c.RootfsOverlay, Arch: c.RootfsArch, Builder: c.RootfsBuilder,
			Dir:      filepath.Join(c.BuildDir, "rootfs", c.RootfsSuite+"-"+c.RootfsArch),
			CacheDir: filepath.Join(c.CacheDir, "debs", c.RootfsSuite+"-"+c.RootfsArch)},
	}
}
