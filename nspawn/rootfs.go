package nspawn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rktbuild/rktbuild/rootfs"
)

// pkgNameRe matches Debian package names.
var pkgNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.+_-]*$`)

// Env is how steps run inside a rootfs that package rootfs built: the
// runner and the .deb cache bound at /var/cache/apt/archives.
type Env struct {
	Runner   *Runner
	CacheDir string
	// Binds are added to every command.
	Binds []Bind
	// Env holds extra KEY=VALUE entries for every command.
	Env []string
}

// Exec runs args inside root with the .deb cache bound.
func (e Env) Exec(ctx context.Context, root string, args ...string) error {
	if e.Runner == nil {
		return errors.New("nspawn: no runner")
	}
	binds := append([]Bind(nil), e.Binds...)
	if e.CacheDir != "" {
		if err := os.MkdirAll(filepath.Join(e.CacheDir, "partial"), 0o755); err != nil {
			return err
		}
		binds = append(binds, Bind{Source: e.CacheDir, Target: rootfs.AptArchives})
	}
	env := append([]string{
		"DEBIAN_FRONTEND=noninteractive",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}, e.Env...)
	return e.Runner.Run(ctx, Options{Root: root, Args: args, Binds: binds, Env: env})
}

// aptOpts keep apt's downloads in the bound cache (run as root so the
// cache needs no special owner) and never prompt.
var aptOpts = []string{"-o", "APT::Sandbox::User=root", "-o", "Dpkg::Use-Pty=0", "-o", "APT::Keep-Downloaded-Packages=true"}

// AptInstall runs apt-get update and installs pkgs (no recommends) inside
// root; the package lists are removed afterwards.
func (e Env) AptInstall(ctx context.Context, root string, pkgs ...string) error {
	for _, p := range pkgs {
		if !pkgNameRe.MatchString(p) {
			return fmt.Errorf("apt install: %q is not a package name", p)
		}
	}
	update := append([]string{"apt-get"}, aptOpts...)
	update = append(update, "update")
	if err := e.Exec(ctx, root, update...); err != nil {
		return fmt.Errorf("apt-get update in %s: %w", root, err)
	}
	install := append([]string{"apt-get"}, aptOpts...)
	install = append(install, "install", "-y", "--no-install-recommends")
	install = append(install, pkgs...)
	if err := e.Exec(ctx, root, install...); err != nil {
		return fmt.Errorf("apt-get install %s in %s: %w", strings.Join(pkgs, " "), root, err)
	}
	return CleanApt(root)
}

// CleanApt removes apt's package lists and any downloaded .debs from root
// (what `apt-get clean` and `rm -rf /var/lib/apt/lists/*` did in the
// original scripts, without emptying the shared cache).
func CleanApt(root string) error {
	for _, pat := range []string{"var/lib/apt/lists/*", "var/cache/apt/archives/*.deb", "var/cache/apt/*.bin"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		for _, p := range m {
			if filepath.Base(p) == "lock" || filepath.Base(p) == "partial" || filepath.Base(p) == "auxfiles" {
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}
