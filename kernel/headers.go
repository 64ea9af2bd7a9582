package kernel

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	cp "github.com/otiai10/copy"
)

// Tree names where a header directory is copied from.
const (
	FromSource = "source" // the (patched) kernel source tree
	FromBuild  = "build"  // the O= build tree (generated headers)
)

// HeaderCopy is one directory copied into /lib/modules/<release>.
type HeaderCopy struct {
	From string // FromSource or FromBuild
	Dir  string // relative to that tree
	To   string // relative to /lib/modules/<release>
}

// HeaderLayout lists the kernel source headers copied beside the
// headers_install output (which goes to /lib/modules/<release>/include):
// the source tree's include/ and arch/<arch>/include/ under source/, plus
// the headers the build generated (autoconf.h, asm offsets), which tools
// such as BCC need. srcArch is the kernel's SRCARCH, e.g. x86.
func HeaderLayout(srcArch string) []HeaderCopy {
	arch := "arch/" + srcArch + "/include"
	return []HeaderCopy{
		{FromSource, "include", "source/include"},
		{FromSource, arch, "source/" + arch},
		{FromBuild, "include/generated", "source/include/generated"},
		{FromBuild, arch + "/generated", "source/" + arch + "/generated"},
	}
}

// ModulesDir is the headers' directory inside a root: lib/modules/<release>.
func ModulesDir(release string) string { return filepath.Join("lib", "modules", release) }

// isInstallArtifact reports kbuild bookkeeping files that must not ship:
// .install and ..install.cmd (headers_install before 5.3) and .*.cmd.
func isInstallArtifact(name string) bool {
	return name == ".install" || name == "..install.cmd" ||
		len(name) > 5 && name[0] == '.' && filepath.Ext(name) == ".cmd"
}

// CopyHeaders copies the HeaderLayout directories from srcDir and buildDir
// into root/lib/modules/<release>, skipping kbuild bookkeeping files.
// Missing generated directories are an error: build the kernel first.
func CopyHeaders(srcDir, buildDir, root, release, srcArch string) error {
	mod := filepath.Join(root, ModulesDir(release))
	for _, hc := range HeaderLayout(srcArch) {
		from := filepath.Join(srcDir, hc.Dir)
		if hc.From == FromBuild {
			from = filepath.Join(buildDir, hc.Dir)
		}
		if _, err := os.Stat(from); err != nil {
			return fmt.Errorf("kernel headers: %w", err)
		}
		err := cp.Copy(from, filepath.Join(mod, hc.To), cp.Options{
			Skip: func(fi os.FileInfo, src, dest string) (bool, error) {
				return isInstallArtifact(fi.Name()), nil
			},
			OnSymlink: func(string) cp.SymlinkAction { return cp.Shallow },
		})
		if err != nil {
			return fmt.Errorf("copying kernel headers %s: %w", hc.Dir, err)
		}
	}
	return RemoveInstallArtifacts(root)
}

// RemoveInstallArtifacts deletes kbuild bookkeeping files under dir.
func RemoveInstallArtifacts(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isInstallArtifact(d.Name()) {
			return os.Remove(p)
		}
		return nil
	})
}

// InstallHeaders runs `make headers_install` into root/lib/modules/<release>
// (giving .../include) and copies the source headers (CopyHeaders).
func InstallHeaders(ctx context.Context, mk Make, root, release string) error {
	mod, err := filepath.Abs(filepath.Join(root, ModulesDir(release)))
	if err != nil {
		return err
	}
	if err := mk.Run(ctx, 1, "headers_install", "INSTALL_HDR_PATH="+mod); err != nil {
		return err
	}
	return CopyHeaders(mk.Src, mk.Out, root, release, mk.SrcArch())
}
