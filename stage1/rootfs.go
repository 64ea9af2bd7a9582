package stage1

import (
	"fmt"
	"os"
	"path/filepath"

	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/kernel"
)

// DropInPath is the systemd drop-in, relative to the rootfs, that
// bind-mounts the kernel headers into each app (rkt's prepare-app@.service
// runs once per app with the app's rootfs as its instance, %I).
const DropInPath = "etc/systemd/system/prepare-app@.service.d/10-bind-mount-kernel-header.conf"

// MkdirPath is where the static mkdir the drop-in runs is installed.
const MkdirPath = "usr/bin/mkdir"

// DropIn returns the drop-in for a kernel release: create
// /lib/modules/<release> inside the app and bind-mount the stage1's
// headers there (both the headers_install tree and source/).
func DropIn(release string) string {
	dir := "/" + filepath.ToSlash(kernel.ModulesDir(release))
	return fmt.Sprintf("[Service]\nExecStartPost=/%s -p %%I%s\nExecStartPost=/usr/bin/mount --bind %s %%I%s\n",
		MkdirPath, dir, dir, dir)
}

// RootfsOptions are the parts of the stage1 layer.
type RootfsOptions struct {
	Rkt           RktVersion
	KernelImage   string // bzImage
	KernelRelease string
	Headers       string // a root holding lib/modules/<release>/...
	Mkdir         string // the static mkdir binary
}

// AssembleRootfs fills dir (which must exist and be empty) with the stage1
// layer: the kernel at KernelPath(Rkt), the headers, the static mkdir and
// the bind-mount drop-in.
func AssembleRootfs(dir string, o RootfsOptions) error {
	if err := copyFile(o.KernelImage, filepath.Join(dir, KernelPath(o.Rkt)), 0o644); err != nil {
		return fmt.Errorf("stage1 kernel: %w", err)
	}
	mod := kernel.ModulesDir(o.KernelRelease)
	if _, err := os.Stat(filepath.Join(o.Headers, mod)); err != nil {
		return fmt.Errorf("stage1 headers: %w (headers and kernel release %s disagree?)", err, o.KernelRelease)
	}
	if err := cp.Copy(filepath.Join(o.Headers, "lib"), filepath.Join(dir, "lib"), cp.Options{
		OnSymlink: func(string) cp.SymlinkAction { return cp.Shallow },
	}); err != nil {
		return fmt.Errorf("stage1 headers: %w", err)
	}
	if err := copyFile(o.Mkdir, filepath.Join(dir, MkdirPath), 0o755); err != nil {
		return fmt.Errorf("stage1 mkdir: %w", err)
	}
	p := filepath.Join(dir, DropInPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(DropIn(o.KernelRelease)), 0o644)
}

func copyFile(src, dst string, perm os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, perm); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}
