// Package image is a small typed builder for ACI images in the spirit of
// acbuild: begin from a directory rootfs or from an ACI, copy files in, run
// commands inside (with systemd-nspawn), set the app's exec, working
// directory, environment, user, group, mount points and ports, add labels,
// annotations and dependencies, then write the ACI and sign it.
//
//	b, err := image.FromRootfs(ctx, work, rootfsDir, "example.com/app")
//	defer b.Close()
//	b.CopyFile("scripts/entrypoint.sh", "/entrypoint.sh", 0o755)
//	b.SetExec("/entrypoint.sh")
//	b.SetLabel("version", "1.0")
//	id, err := b.Write(ctx, "aci/app.aci", aci.PackOptions{})
//
// Errors are remembered: setters that fail make the next Write fail with the
// first error, so recipes read as a list of statements.
package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Builder assembles one image in a work directory.
type Builder struct {
	work     string // work directory; rootfs/ lives inside
	manifest *schema.ImageManifest
	err      error
	// Env runs commands inside the rootfs (runner, .deb cache, binds).
	Env nspawn.Env
}

// Rootfs returns the builder's rootfs directory.
func (b *Builder) Rootfs() string { return filepath.Join(b.work, "rootfs") }

// Manifest returns the manifest being built (for settings the builder has
// no method for).
func (b *Builder) Manifest() *schema.ImageManifest { return b.manifest }

// Err returns the first error a setter recorded.
func (b *Builder) Err() error { return b.err }

func (b *Builder) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func newBuilder(work, name string) (*Builder, error) {
	m, err := aci.NewManifest(name, nil)
	if err != nil {
		return nil, err
	}
	if err := fsutil.RemoveAll(work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	return &Builder{work: work, manifest: m}, nil
}

// FromRootfs begins an image named name from a copy of the directory
// rootfs (which is left unchanged), working in the directory work (emptied
// first; removed by Close).
func FromRootfs(ctx context.Context, work, rootfsDir, name string) (*Builder, error) {
	if fi, err := os.Stat(rootfsDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("image %s: rootfs %s is not a directory (build it with `mage rootfs`)", name, rootfsDir)
	}
	b, err := newBuilder(work, name)
	if err != nil {
		return nil, err
	}
	// cp -a keeps owners, modes, device nodes, hardlinks, xattrs; reflinks
	// make it nearly free on file systems that support them.
	if err := step.Run(ctx, "cp", "-a", "--reflink=auto", "--", rootfsDir, b.Rootfs()); err != nil {
		b.Close()
		return nil, fmt.Errorf("image %s: copying rootfs: %w", name, err)
	}
	return b, nil
}

// FromACI begins an image named name from the contents of the ACI file
// base: its rootfs and its app settings (exec, environment, ...). Labels
// other than os and arch, annotations and dependencies are not inherited
// (the new image is flattened: it does not depend on base).
func FromACI(ctx context.Context, work, base, name string) (*Builder, error) {
	bm, err := aci.ReadManifest(base)
	if err != nil {
		return nil, fmt.Errorf("image %s: base image: %w", name, err)
	}
	b, err := newBuilder(work, name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(work, "unpack"), 0o755); err != nil {
		return nil, err
	}
	if err := aci.Extract(ctx, base, filepath.Join(work, "unpack")); err != nil {
		b.Close()
		return nil, fmt.Errorf("image %s: unpacking base %s: %w", name, base, err)
	}
	if err := os.Rename(filepath.Join(work, "unpack", "rootfs"), b.Rootfs()); err != nil {
		b.Close()
		return nil, fmt.Errorf("image %s: base %s has no rootfs: %w", name, base, err)
	}
	_ = fsutil.RemoveAll(filepath.Join(work, "unpack"))
	if bm.App != nil {
		app := *bm.App
		b.manifest.App = &app
	}
	for _, k := range []string{"os", "arch"} {
		if v, ok := bm.Labels.Get(k); ok {
			b.SetLabel(k, v)
		}
	}
	return b, nil
}

// Close removes the work directory.
func (b *Builder) Close() error { return fsutil.RemoveAll(b.work) }

// inside maps an absolute container path to the host path in the rootfs.
func (b *Builder) inside(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("path %q in the image is not absolute", p)
	}
	clean := path.Clean(p)
	return filepath.Join(b.Rootfs(), filepath.FromSlash(clean)), nil
}

// CopyFile copies the host file src to dst inside the image with mode perm.
func (b *Builder) CopyFile(src, dst string, perm os.FileMode) {
	data, err := os.ReadFile(src)
	if err != nil {
		b.fail(fmt.Errorf("copy %s: %w", src, err))
		return
	}
	b.WriteFile(dst, data, perm)
}

// WriteFile writes data to dst inside the image with mode perm, creating
// parent directories.
func (b *Builder) WriteFile(dst string, data []byte, perm os.FileMode) {
	p, err := b.inside(dst)
	if err != nil {
		b.fail(err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.fail(err)
		return
	}
	if err := fsutil.WriteFileBytes(p, data, perm); err != nil {
		b.fail(fmt.Errorf("writing %s into the image: %w", dst, err))
	}
}

// CopyTree copies the host directory src (recursively, keeping modes and
// links) to dst inside the image.
func (b *Builder) CopyTree(ctx context.Context, src, dst string) {
	p, err := b.inside(dst)
	if err != nil {
		b.fail(err)
		return
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		b.fail(err)
		return
	}
	if err := step.Run(ctx, "cp", "-a", "--", src+"/.", p+"/"); err != nil {
		b.fail(fmt.Errorf("copying %s to %s in the image: %w", src, dst, err))
	}
}

// Mkdir creates directories inside the image (mode 0755, parents too).
func (b *Builder) Mkdir(dirs ...string) {
	for _, d := range dirs {
		p, err := b.inside(d)
		if err != nil {
			b.fail(err)
			return
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.fail(err)
			return
		}
	}
}

// Remove deletes paths (files or trees) inside the image; shell patterns
// are expanded.
func (b *Builder) Remove(paths ...string) {
	for _, pat := range paths {
		p, err := b.inside(pat)
		if err != nil {
			b.fail(err)
			return
		}
		m, err := filepath.Glob(p)
		if err != nil {
			b.fail(err)
			return
		}
		for _, f := range m {
			if err := fsutil.RemoveAll(f); err != nil {
				b.fail(err)
				return
			}
		}
	}
}

// Run runs a command inside the image's rootfs with systemd-nspawn (the
// .deb cache bound at /var/cache/apt/archives). A failure is returned and
// also remembered.
func (b *Builder) Run(ctx context.Context, args ...string) error {
	if b.err != nil {
		return b.err
	}
	if b.Env.Runner != nil {
		step.Summaryf(ctx, "image %s: running %s with %s", b.manifest.Name, strings.Join(args, " "), b.Env.Runner)
	}
	err := b.Env.Exec(ctx, b.Rootfs(), args...)
	if err != nil {
		err = fmt.Errorf("image %s: running %s: %w", b.manifest.Name, strings.Join(args, " "), err)
	}
	b.fail(err)
	return err
}

// AptInstall installs packages inside the image (apt-get update + install,
// lists removed afterwards).
func (b *Builder) AptInstall(ctx context.Context, pkgs ...string) error {
	if b.err != nil {
		return b.err
	}
	if b.Env.Runner != nil {
		step.Summaryf(ctx, "image %s: installing %s with %s", b.manifest.Name, strings.Join(pkgs, " "), b.Env.Runner)
	}
	err := b.Env.AptInstall(ctx, b.Rootfs(), pkgs...)
	if err != nil {
		err = fmt.Errorf("image %s: %w", b.manifest.Name, err)
	}
	b.fail(err)
	return err
}

// CleanApt removes apt's package lists and downloaded packages.
func (b *Builder) CleanApt() { b.fail(nspawn.CleanApt(b.Rootfs())) }

func (b *Builder) app() *types.App {
	if b.manifest.App == nil {
		b.manifest.App = &types.App{User: "0", Group: "0"}
	}
	return b.manifest.App
}

// SetExec sets the app's command.
func (b *Builder) SetExec(args ...string) { b.app().Exec = types.Exec(args) }

// SetWorkingDir sets the app's working directory.
func (b *Builder) SetWorkingDir(dir string) { b.app().WorkingDirectory = dir }

// SetEnv sets (or replaces) an environment variable of the app.
func (b *Builder) SetEnv(name, value string) { b.app().Environment.Set(name, value) }

// SetUser sets the user (name or UID) the app runs as.
func (b *Builder) SetUser(user string) { b.app().User = user }

// SetGroup sets the group (name or GID) the app runs as.
func (b *Builder) SetGroup(group string) { b.app().Group = group }

// AddMountPoint declares a mount point name at path.
func (b *Builder) AddMountPoint(name, path string, readOnly bool) {
	n, err := types.NewACName(name)
	if err != nil {
		b.fail(fmt.Errorf("mount point %q: %w", name, err))
		return
	}
	a := b.app()
	for i, mp := range a.MountPoints {
		if mp.Name == *n {
			a.MountPoints = append(a.MountPoints[:i], a.MountPoints[i+1:]...)
			break
		}
	}
	a.MountPoints = append(a.MountPoints, types.MountPoint{Name: *n, Path: path, ReadOnly: readOnly})
}

// AddPort declares a port the app listens on.
func (b *Builder) AddPort(name, protocol string, port uint) {
	n, err := types.NewACName(name)
	if err != nil {
		b.fail(fmt.Errorf("port %q: %w", name, err))
		return
	}
	b.app().Ports = append(b.app().Ports, types.Port{Name: *n, Protocol: protocol, Port: port, Count: 1})
}

// SetLabel sets a label (os, arch, version, ...).
func (b *Builder) SetLabel(name, value string) {
	n, err := types.NewACIdentifier(name)
	if err != nil {
		b.fail(fmt.Errorf("label %q: %w", name, err))
		return
	}
	for i, l := range b.manifest.Labels {
		if l.Name == *n {
			b.manifest.Labels[i].Value = value
			return
		}
	}
	b.manifest.Labels = append(b.manifest.Labels, types.Label{Name: *n, Value: value})
	sort.Slice(b.manifest.Labels, func(i, j int) bool { return b.manifest.Labels[i].Name < b.manifest.Labels[j].Name })
}

// SetAnnotation sets an annotation.
func (b *Builder) SetAnnotation(name, value string) {
	n, err := types.NewACIdentifier(name)
	if err != nil {
		b.fail(fmt.Errorf("annotation %q: %w", name, err))
		return
	}
	b.manifest.Annotations.Set(*n, value)
}

// AddDependency records that the image depends on another (rendered
// beneath it by runtimes).
func (b *Builder) AddDependency(name string, labels map[string]string) {
	n, err := types.NewACIdentifier(name)
	if err != nil {
		b.fail(fmt.Errorf("dependency %q: %w", name, err))
		return
	}
	l, err := aci.MakeLabels(labels)
	if err != nil {
		b.fail(err)
		return
	}
	b.manifest.Dependencies = append(b.manifest.Dependencies, types.Dependency{ImageName: *n, Labels: l})
}

// Write packs the image into out (atomically) and returns its image ID.
// Device nodes, FIFOs and sockets are removed from the rootfs first and
// /dev is kept as an empty directory: rkt cannot render them (see
// aci.RktDeviceHint) and provides /dev itself.
func (b *Builder) Write(ctx context.Context, out string, opts aci.PackOptions) (string, error) {
	if b.err != nil {
		return "", b.err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	// An image is meant for rkt, which hangs rendering device nodes
	// (aci.RktDeviceHint); its stage1 provides /dev in the pod.
	removed, err := aci.RemoveSpecialFiles(b.Rootfs())
	if err != nil {
		return "", fmt.Errorf("image %s: %w", b.manifest.Name, err)
	}
	if len(removed) > 0 {
		step.Logf(ctx, "image %s: removed %d device nodes, FIFOs and sockets from the rootfs (rkt provides /dev)", b.manifest.Name, len(removed))
	}
	id, err := aci.PackRootfs(ctx, b.manifest, b.Rootfs(), out, opts)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", b.manifest.Name, err)
	}
	return id, nil
}

// WriteSigned writes the image and signs it with signer (whose key is
// generated on first use), producing out and out.asc.
func (b *Builder) WriteSigned(ctx context.Context, signer *sign.Signer, out string, opts aci.PackOptions) (string, error) {
	// A stale signature must never sit beside a new image.
	if err := os.Remove(out + ".asc"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	id, err := b.Write(ctx, out, opts)
	if err != nil {
		return "", err
	}
	if err := signer.SignFile(ctx, out); err != nil {
		return "", fmt.Errorf("signing %s: %w", out, err)
	}
	return id, nil
}

// NewEnv returns the rootfs environment for image builds: the nspawn
// runner found under buildDir (static build preferred) and the .deb cache
// debCache.
func NewEnv(buildDir, debCache string) (nspawn.Env, error) {
	r, err := nspawn.Find(buildDir)
	if err != nil {
		return nspawn.Env{}, err
	}
	return nspawn.Env{Runner: r, CacheDir: debCache}, nil
}
