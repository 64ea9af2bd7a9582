package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/step"
)

// Volume is rkt's --volume NAME,kind=host,source=PATH[,readOnly=true]
// (kind=empty gives an empty tmpfs).
type Volume struct {
	Name     string
	Kind     string // "host" or "empty"
	Source   string // host path for kind=host
	ReadOnly bool
}

// Mount is rkt's --mount volume=NAME,target=PATH: target is an absolute
// path in the app or the name of one of its mount points.
type Mount struct {
	Volume string
	Target string
}

// splitList splits a flag value holding several entries, separated by
// spaces, tabs, newlines or semicolons.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == ';' })
}

func keyValues(entry, flag string, first string) (map[string]string, error) {
	m := map[string]string{}
	for i, part := range strings.Split(entry, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if i == 0 && first != "" {
				m[first] = part
				continue
			}
			return nil, fmt.Errorf("%s %q: %q is not KEY=VALUE", flag, entry, part)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s %q: %s given twice", flag, entry, k)
		}
		m[k] = v
	}
	return m, nil
}

// ParseVolumes parses one or more rkt --volume values (separated by spaces
// or semicolons), e.g. "src,kind=host,source=/tmp/src,readOnly=true".
// Sources must exist.
func ParseVolumes(s string) ([]Volume, error) {
	var out []Volume
	seen := map[string]bool{}
	for _, e := range splitList(s) {
		kv, err := keyValues(e, "--volume", "name")
		if err != nil {
			return nil, err
		}
		v := Volume{Name: kv["name"], Kind: kv["kind"], Source: kv["source"]}
		if _, err := types.NewACName(v.Name); err != nil {
			return nil, fmt.Errorf("--volume %q: volume name %q: %v", e, v.Name, err)
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("--volume %q: volume %s defined twice", e, v.Name)
		}
		seen[v.Name] = true
		switch ro := kv["readOnly"]; ro {
		case "", "false":
		case "true":
			v.ReadOnly = true
		default:
			return nil, fmt.Errorf("--volume %q: readOnly=%q: want true or false", e, ro)
		}
		for k := range kv {
			switch k {
			case "name", "kind", "source", "readOnly":
			default:
				return nil, fmt.Errorf("--volume %q: unknown option %s (known: kind, source, readOnly)", e, k)
			}
		}
		switch v.Kind {
		case "host":
			if v.Source == "" {
				return nil, fmt.Errorf("--volume %q: kind=host needs source=PATH", e)
			}
			if !filepath.IsAbs(v.Source) {
				abs, err := filepath.Abs(v.Source)
				if err != nil {
					return nil, err
				}
				v.Source = abs
			}
			if _, err := os.Stat(v.Source); err != nil {
				return nil, fmt.Errorf("--volume %s: source %s does not exist: create it or fix the path", v.Name, v.Source)
			}
		case "empty":
			if v.Source != "" {
				return nil, fmt.Errorf("--volume %q: kind=empty takes no source", e)
			}
		case "":
			return nil, fmt.Errorf("--volume %q: missing kind=host or kind=empty", e)
		default:
			return nil, fmt.Errorf("--volume %q: unknown kind %q (want host or empty)", e, v.Kind)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseMounts parses one or more rkt --mount values, e.g.
// "volume=src,target=/build".
func ParseMounts(s string) ([]Mount, error) {
	var out []Mount
	for _, e := range splitList(s) {
		kv, err := keyValues(e, "--mount", "")
		if err != nil {
			return nil, err
		}
		m := Mount{Volume: kv["volume"], Target: kv["target"]}
		for k := range kv {
			if k != "volume" && k != "target" {
				return nil, fmt.Errorf("--mount %q: unknown option %s (known: volume, target)", e, k)
			}
		}
		if m.Volume == "" || m.Target == "" {
			return nil, fmt.Errorf("--mount %q: needs volume=NAME,target=PATH", e)
		}
		out = append(out, m)
	}
	return out, nil
}

// Binds resolves volumes and mounts against the app's mount points into
// bind mounts and tmpfs paths: each --mount binds its volume at its target
// (a path, or a mount point's name); a volume named like a mount point and
// not mounted explicitly is bound at that mount point's path, as rkt does.
func Binds(app *types.App, vols []Volume, mounts []Mount) ([]nspawn.Bind, []string, error) {
	byName := map[string]Volume{}
	for _, v := range vols {
		byName[v.Name] = v
	}
	mpPath := map[string]types.MountPoint{}
	if app != nil {
		for _, mp := range app.MountPoints {
			mpPath[mp.Name.String()] = mp
		}
	}
	var binds []nspawn.Bind
	var tmpfs []string
	used := map[string]bool{}
	add := func(v Volume, target string, ro bool) {
		if v.Kind == "empty" {
			tmpfs = append(tmpfs, target)
			return
		}
		binds = append(binds, nspawn.Bind{Source: v.Source, Target: target, ReadOnly: v.ReadOnly || ro})
	}
	for _, m := range mounts {
		v, ok := byName[m.Volume]
		if !ok {
			return nil, nil, fmt.Errorf("--mount volume=%s: no --volume named %s", m.Volume, m.Volume)
		}
		target, ro := m.Target, false
		if !path.IsAbs(target) {
			mp, ok := mpPath[target]
			if !ok {
				return nil, nil, fmt.Errorf("--mount target=%s: not an absolute path nor a mount point of the image", target)
			}
			target, ro = mp.Path, mp.ReadOnly
		}
		used[v.Name] = true
		add(v, path.Clean(target), ro)
	}
	for _, v := range vols {
		if used[v.Name] {
			continue
		}
		mp, ok := mpPath[v.Name]
		if !ok {
			return nil, nil, fmt.Errorf("--volume %s is not mounted: add --mount volume=%s,target=PATH or name it after a mount point of the image", v.Name, v.Name)
		}
		add(v, mp.Path, mp.ReadOnly)
	}
	return binds, tmpfs, nil
}

// Finder locates the ACI file that satisfies a dependency.
type Finder func(dep types.Dependency) (string, error)

// Rendered is an image rendered (with its dependencies) into a directory.
type Rendered struct {
	Dir      string // holds manifest and rootfs/
	ID       string // image ID
	Manifest *schema.ImageManifest
	Reused   bool // true when the cache already had it
}

// Rootfs is the rendered root file system.
func (r *Rendered) Rootfs() string { return filepath.Join(r.Dir, "rootfs") }

// Render renders the ACI file and its dependencies (depth-first, first
// provider of a path wins, pathWhitelist applied) into cacheDir/<image
// ID>, reusing an earlier rendering of the same image.
func Render(ctx context.Context, file, cacheDir string, find Finder) (*Rendered, error) {
	m, err := aci.ReadManifest(file)
	if err != nil {
		return nil, err
	}
	id, err := cachedImageID(file, cacheDir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir, id)
	r := &Rendered{Dir: dir, ID: id, Manifest: m}
	if fi, err := os.Stat(filepath.Join(dir, "rootfs")); err == nil && fi.IsDir() {
		r.Reused = true
		return r, nil
	}
	step.Summaryf(ctx, "rendering %s (%s) into %s", m.Name, id[:min(len(id), 19)], dir)
	err = fsutil.ReplaceDir(dir, func(tmp string) error {
		unpack := filepath.Join(tmp, "unpack")
		if err := aci.Extract(ctx, file, unpack); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(unpack, "rootfs"), filepath.Join(tmp, "rootfs")); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(unpack, "manifest"), filepath.Join(tmp, "manifest")); err != nil {
			return err
		}
		if err := os.RemoveAll(unpack); err != nil {
			return err
		}
		if err := renderDeps(ctx, m, filepath.Join(tmp, "rootfs"), tmp, find, []string{m.Name.String()}); err != nil {
			return err
		}
		if len(m.PathWhitelist) > 0 {
			return applyWhitelist(filepath.Join(tmp, "rootfs"), m.PathWhitelist)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", file, err)
	}
	return r, nil
}

func renderDeps(ctx context.Context, m *schema.ImageManifest, root, tmp string, find Finder, chain []string) error {
	for i, dep := range m.Dependencies {
		if find == nil {
			return fmt.Errorf("%s depends on %s, and no image source was given", m.Name, dep.ImageName)
		}
		for _, c := range chain {
			if c == dep.ImageName.String() {
				return fmt.Errorf("dependency cycle: %s -> %s", strings.Join(chain, " -> "), dep.ImageName)
			}
		}
		f, err := find(dep)
		if err != nil {
			return err
		}
		dm, err := aci.ReadManifest(f)
		if err != nil {
			return err
		}
		unpack := filepath.Join(tmp, fmt.Sprintf("dep-%d-%d", len(chain), i))
		if err := aci.Extract(ctx, f, unpack); err != nil {
			return err
		}
		// First provider wins: copy only what the rendered tree lacks.
		if err := step.Run(ctx, "cp", "-a", "--no-clobber", "--", filepath.Join(unpack, "rootfs")+"/.", root+"/"); err != nil {
			return fmt.Errorf("rendering dependency %s: %w", dep.ImageName, err)
		}
		if err := fsutil.RemoveAll(unpack); err != nil {
			return err
		}
		if err := renderDeps(ctx, dm, root, tmp, find, append(chain, dep.ImageName.String())); err != nil {
			return err
		}
	}
	return nil
}

// applyWhitelist removes every non-directory not listed (directories that
// hold a listed path stay).
func applyWhitelist(root string, list []string) error {
	keep := map[string]bool{}
	for _, p := range list {
		keep[path.Clean("/"+p)] = true
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || d.IsDir() {
			return nil
		}
		if !keep["/"+filepath.ToSlash(rel)] {
			return os.Remove(p)
		}
		return nil
	})
}

// cachedImageID returns the file's image ID (from aci.Open, which also
// checks the archive), remembering it by the file's sha256 (cheap to
// recheck) so a re-run does not decompress the image.
func cachedImageID(file, cacheDir string) (string, error) {
	sum, err := fsutil.HashFile(file)
	if err != nil {
		return "", err
	}
	idx := filepath.Join(cacheDir, "ids", sum)
	if b, err := os.ReadFile(idx); err == nil && strings.HasPrefix(string(b), "sha512-") {
		return strings.TrimSpace(string(b)), nil
	}
	im, err := aci.Open(file)
	if err != nil {
		return "", err
	}
	id := im.ID
	if err := fsutil.WriteFileBytes(idx, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// App is how to run a rendered image's app.
type App struct {
	// Args are appended to the image's exec (rkt's `-- ARGS`).
	Args []string
	// Exec, when set, replaces the image's exec.
	Exec    []string
	Volumes []Volume
	Mounts  []Mount
	// Env adds or overrides environment entries (KEY=VALUE).
	Env []string
	// ResolvConf is nspawn's --resolv-conf mode (DNS); empty means the
	// host's configuration copied in.
	ResolvConf string
}

// RunOptions turns a rendered image and an App into nspawn options: exec,
// environment, user, working directory from the manifest, volumes bound,
// on a volatile overlay so the cached rendering stays pristine and can be
// shared by several runs at once.
func RunOptions(r *Rendered, a App) (nspawn.Options, error) {
	app := r.Manifest.App
	if app == nil {
		app = &types.App{}
	}
	exec := append([]string(nil), app.Exec...)
	if len(a.Exec) > 0 {
		exec = append([]string(nil), a.Exec...)
	}
	exec = append(exec, a.Args...)
	if len(exec) == 0 {
		return nspawn.Options{}, fmt.Errorf("image %s has no exec and none was given", r.Manifest.Name)
	}
	binds, tmpfs, err := Binds(app, a.Volumes, a.Mounts)
	if err != nil {
		return nspawn.Options{}, err
	}
	var env []string
	idx := map[string]int{}
	set := func(k, v string) {
		if i, ok := idx[k]; ok {
			env[i] = k + "=" + v
			return
		}
		idx[k] = len(env)
		env = append(env, k+"="+v)
	}
	for _, ev := range app.Environment {
		set(ev.Name, ev.Value)
	}
	for _, e := range a.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nspawn.Options{}, fmt.Errorf("environment entry %q is not KEY=VALUE", e)
		}
		set(k, v)
	}
	user := app.User
	if user == "0" || user == "root" {
		user = ""
	}
	return nspawn.Options{
		Root:        r.Rootfs(),
		Args:        exec,
		Binds:       binds,
		Tmpfs:       tmpfs,
		Env:         env,
		User:        user,
		WorkDir:     app.WorkingDirectory,
		ResolvConf:  a.ResolvConf,
		Volatile:    true,
		MachineName: MachineName(r.Manifest.Name.String()),
	}, nil
}

// MachineName returns a unique, valid machine name for a run of image.
func MachineName(image string) string {
	base := path.Base(image)
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = "app"
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return name + "-" + hex.EncodeToString(rnd[:])
}
