package stage1

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/kernel"
)

// DropInPath is the systemd drop-in, relative to the rootfs, that
// bind-mounts the kernel headers into each app (rkt's prepare-app@.service
// runs once per app with the app's rootfs as its instance, %I).
const DropInPath = "etc/systemd/system/prepare-app@.service.d/10-bind-mount-kernel-header.conf"

// MkdirPath is where the static mkdir the drop-in runs is installed.
const MkdirPath = "usr/bin/mkdir"

// HeadersDir is where the layer keeps the headers of a kernel release:
// usr/lib/modules/<release>. rkt's stage1 has lib -> usr/lib, so the
// drop-in's /lib/modules/<release> resolves there; a real top-level lib
// directory in the layer would hide the upstream's link when rkt renders
// the layer over it (see CheckLayout).
func HeadersDir(release string) string {
	return filepath.Join("usr", kernel.ModulesDir(release))
}

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
// layer: the kernel at KernelPath(Rkt), the headers at HeadersDir, the
// static mkdir and the bind-mount drop-in.
func AssembleRootfs(dir string, o RootfsOptions) error {
	if err := fsutil.CopyFile(o.KernelImage, filepath.Join(dir, KernelPath(o.Rkt)), 0o644); err != nil {
		return fmt.Errorf("stage1 kernel: %w", err)
	}
	mod := kernel.ModulesDir(o.KernelRelease)
	if _, err := os.Stat(filepath.Join(o.Headers, mod)); err != nil {
		return fmt.Errorf("stage1 headers: %w (headers and kernel release %s disagree?)", err, o.KernelRelease)
	}
	if err := cp.Copy(filepath.Join(o.Headers, mod), filepath.Join(dir, HeadersDir(o.KernelRelease)), cp.Options{
		OnSymlink: func(string) cp.SymlinkAction { return cp.Shallow },
	}); err != nil {
		return fmt.Errorf("stage1 headers: %w", err)
	}
	if err := fsutil.CopyFile(o.Mkdir, filepath.Join(dir, MkdirPath), 0o755); err != nil {
		return fmt.Errorf("stage1 mkdir: %w", err)
	}
	p := filepath.Join(dir, DropInPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(DropIn(o.KernelRelease)), 0o644)
}

// CheckLayout checks that an upstream stage1 rootfs and a layer rendered
// over it agree: where the upstream has a symlink at the top level (lib ->
// usr/lib), the layer must not have a directory, since rkt renders the top
// image's entries first and a real directory would hide the link and
// everything under it (Debian's systemd has /lib/systemd/... compiled in).
func CheckLayout(upstreamRootfs, layerRootfs string) error {
	entries, err := os.ReadDir(layerRootfs)
	if err != nil {
		return err
	}
	var bad []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(upstreamRootfs, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		t, _ := os.Readlink(p)
		bad = append(bad, fmt.Sprintf("/%s (upstream: /%s -> %s)", e.Name(), e.Name(), t))
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("the stage1 layer has directories where the upstream stage1 has symlinks, which would hide them: %s; put these files under the link's target (e.g. usr/lib/...)", strings.Join(bad, ", "))
	}
	return nil
}
