package upstream

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/nspawn/static"
	"github.com/rktbuild/rktbuild/step"
)

// Packages are the distribution packages the stage1 takes programs and
// firmware from. Their libraries come along by following the programs'
// needed-library lists through the packages apt resolves as dependencies.
var Packages = []string{
	"systemd", "bash", "mount", "coreutils", "iproute2",
	"openssh-server", "openssh-client",
	"qemu-system-x86", "qemu-system-common", "seabios", "ipxe-qemu", "qemu-system-data",
}

// Picks are the files taken from the packages, as paths in the merged
// /usr layout (lib/… is usr/lib/…). A '*' matches within one name.
var Picks = []string{
	// systemd, as rkt's stage1 uses it (rkt's usr_from_coreos manifests).
	"usr/lib/systemd/systemd",
	"usr/lib/systemd/systemd-journald",
	"usr/lib/systemd/systemd-shutdown",
	"usr/lib/systemd/systemd-cgroups-agent",
	"usr/bin/systemctl",
	"usr/bin/journalctl",
	"usr/bin/systemd-sysusers",
	"usr/bin/systemd-tmpfiles",
	"usr/bin/systemd-notify",
	"usr/bin/systemd-ask-password",
	"usr/bin/systemd-tty-ask-password-agent",
	"usr/bin/systemd-machine-id-setup",
	"usr/bin/systemd-cat",
	"usr/lib/systemd/system/syslog.socket",
	"usr/lib/systemd/system/systemd-journald.service",
	"usr/lib/systemd/system/systemd-journald.socket",
	"usr/lib/systemd/system/systemd-journald-dev-log.socket",
	"usr/lib/systemd/system/systemd-journald-audit.socket",
	"usr/lib/systemd/system/systemd-journal-flush.service",
	// bash, mount, coreutils bits, iproute2, openssh.
	"usr/bin/bash",
	"usr/bin/mount",
	"usr/bin/umount",
	"usr/bin/chmod",
	"usr/bin/chown",
	"usr/bin/mkdir",
	"usr/bin/ip",
	"usr/sbin/sshd",
	"usr/bin/ssh-keygen",
	// qemu and its TCG accelerator module (a module since qemu 7).
	"usr/bin/qemu-system-x86_64",
	"usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
	// the dynamic loader the /qemu wrapper runs qemu with.
	"usr/lib64/ld-linux-x86-64.so.2",
}

// Firmware is what rkt's qemu build copied next to /qemu (the -L
// directory rkt passes is the stage1 rootfs).
var Firmware = []string{
	"bios-256k.bin", "kvmvapic.bin", "linuxboot.bin", "linuxboot_dma.bin",
	"vgabios-stdvga.bin", "efi-virtio.rom",
}

// firmwareDirs are where the packages keep firmware; /usr/share/qemu
// links to the others.
var firmwareDirs = []string{"usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu"}

// libDirs are the default library directories of Debian's loader in the
// merged layout.
var libDirs = []string{"usr/lib/x86_64-linux-gnu", "usr/lib", "usr/lib64"}

// DebianOptions configure FetchDebian.
type DebianOptions struct {
	// Dir holds the private apt configuration and the unpacked packages.
	Dir string
	// Release is the distribution release (the host's by default).
	Release string
	// SourcesList, SourceParts and OSRelease are the host's apt sources and
	// os-release (defaults: /etc/apt/sources.list, /etc/apt/sources.list.d,
	// /etc/os-release).
	SourcesList, SourceParts, OSRelease string
}

func (o *DebianOptions) defaults() {
	if o.SourcesList == "" {
		o.SourcesList = "/etc/apt/sources.list"
	}
	if o.SourceParts == "" {
		o.SourceParts = "/etc/apt/sources.list.d"
	}
	if o.OSRelease == "" {
		o.OSRelease = "/etc/os-release"
	}
}

// DebSources turns the host's apt entries into binary (deb) entries for
// release, with the host's signing options kept.
func DebSources(o DebianOptions) ([]static.Source, string, error) {
	o.defaults()
	host, err := static.HostSources(o.SourcesList, o.SourceParts)
	if err != nil {
		return nil, "", fmt.Errorf("reading the host's apt sources: %w", err)
	}
	codename, err := static.HostCodename(o.OSRelease)
	if err != nil {
		return nil, "", err
	}
	rel := o.Release
	if rel == "" {
		rel = codename
	}
	src, err := static.DeriveSources(host, codename, rel)
	if err != nil {
		return nil, "", err
	}
	for i := range src {
		src[i].Types = []string{"deb"}
	}
	return src, rel, nil
}

// FetchDebian downloads Packages and their dependencies with a private
// apt configuration (signed indices, checked hashes; the host's apt state
// is neither read nor changed) and unpacks them into staging (which must
// not exist) in the merged /usr layout. It returns the package versions
// ("name version" lines, sorted).
func FetchDebian(ctx context.Context, o DebianOptions, staging string) ([]string, error) {
	o.defaults()
	src, rel, err := DebSources(o)
	if err != nil {
		return nil, err
	}
	// apt reads relative Dir:: paths relative to /etc/apt.
	aptDir, err := filepath.Abs(filepath.Join(o.Dir, "apt"))
	if err != nil {
		return nil, err
	}
	apt := static.Apt{Dir: aptDir}
	if err := apt.Setup(src); err != nil {
		return nil, err
	}
	status := filepath.Join(apt.Dir, "status")
	if err := fsutil.WriteFileBytes(status, nil, 0o644); err != nil {
		return nil, err
	}
	// An empty dpkg status makes apt resolve (and download) every
	// dependency, not only those the host lacks.
	args := append(apt.Args(), "-o", "Dir::State::status="+status)
	if err := (step.Cmd{}).Run(ctx, "apt-get", append(args, "update")...); err != nil {
		return nil, fmt.Errorf("fetching the package indices of release %q (apt sources derived from the host's, in %s): %w", rel, apt.Dir, err)
	}
	dl := append(args, "install", "-y", "--download-only", "--no-install-recommends")
	if err := (step.Cmd{}).Run(ctx, "apt-get", append(dl, Packages...)...); err != nil {
		return nil, fmt.Errorf("downloading the stage1's packages %s: %w", strings.Join(Packages, " "), err)
	}
	debs, err := filepath.Glob(filepath.Join(apt.Dir, "cache", "archives", "*.deb"))
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, p := range Packages {
		want[p] = true
	}
	var versions []string
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, err
	}
	for _, deb := range debs {
		name, version, ok := debName(filepath.Base(deb))
		if !ok || !(want[name] || isLibraryPackage(name)) {
			continue
		}
		versions = append(versions, name+" "+version)
		if err := (step.Cmd{}).Run(ctx, "dpkg-deb", "-x", deb, staging); err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", deb, err)
		}
	}
	sort.Strings(versions)
	if err := MergeUsr(staging); err != nil {
		return nil, err
	}
	return versions, nil
}

// debName splits name_version_arch.deb (apt escapes ':' as %3a).
func debName(file string) (name, version string, ok bool) {
	f := strings.Split(strings.TrimSuffix(file, ".deb"), "_")
	if len(f) != 3 {
		return "", "", false
	}
	return f[0], strings.ReplaceAll(f[1], "%3a", ":"), true
}

// isLibraryPackage reports packages that hold shared libraries by Debian's
// naming (lib*, and zlib1g).
func isLibraryPackage(name string) bool {
	return strings.HasPrefix(name, "lib") || strings.HasPrefix(name, "zlib")
}

// mergedDirs are the top-level directories that live under /usr in the
// merged layout, with the symlink each becomes.
var mergedDirs = []string{"bin", "sbin", "lib", "lib64"}

// MergeUsr moves root's top-level bin, sbin, lib and lib64 under usr/ and
// leaves symlinks (bin -> usr/bin, ...) in their place, as Debian's usrmerge
// does on installed systems.
func MergeUsr(root string) error {
	for _, d := range mergedDirs {
		top := filepath.Join(root, d)
		fi, err := os.Lstat(top)
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Join(root, "usr", d), 0o755); err != nil {
				return err
			}
			if err := os.Symlink("usr/"+d, top); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		err = filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			dst := filepath.Join(root, "usr", rel)
			if _, err := os.Lstat(dst); err == nil {
				return nil // the /usr copy wins
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.Rename(p, dst)
		})
		if err != nil {
			return fmt.Errorf("merging /%s into /usr/%s: %w", d, d, err)
		}
		if err := os.RemoveAll(top); err != nil {
			return err
		}
		if err := os.Symlink("usr/"+d, top); err != nil {
			return err
		}
	}
	return nil
}

// Normalize maps a path inside a root to the merged layout: lib/x ->
// usr/lib/x; it removes a leading slash.
func Normalize(p string) string {
	p = strings.TrimPrefix(filepath.Clean("/"+p), "/")
	for _, d := range mergedDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return "usr/" + p
		}
	}
	return p
}

// Copier copies files from a staging root into a rootfs, keeping symlink
// chains (absolute targets are made relative, so they resolve inside the
// rootfs whether it is / or a directory on the host) and pulling in the
// shared libraries ELF files need.
type Copier struct {
	From, To string
	done     map[string]bool
}

// Copy copies rel (a merged-layout path) and, for ELF files, their
// libraries.
func (c *Copier) Copy(rel string) error { return c.copy(rel, nil) }

// copy copies rel; inherited are the run paths of the objects that needed
// it: a library loaded through a program's RUNPATH satisfies its siblings'
// needs too (the loader matches loaded sonames), e.g. systemd's
// libsystemd-core needs libsystemd-shared from systemd's RUNPATH.
func (c *Copier) copy(rel string, inherited []string) error {
	if c.done == nil {
		c.done = map[string]bool{}
	}
	rel = Normalize(rel)
	if c.done[rel] {
		return nil
	}
	c.done[rel] = true
	src := filepath.Join(c.From, rel)
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	dst := filepath.Join(c.To, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		target := t
		if filepath.IsAbs(t) {
			target = Normalize(t)
		} else {
			target = Normalize(filepath.Join(filepath.Dir(rel), t))
		}
		relLink, err := filepath.Rel(filepath.Dir(rel), target)
		if err != nil {
			return err
		}
		_ = os.Remove(dst)
		if err := os.Symlink(relLink, dst); err != nil {
			return err
		}
		return c.copy(target, inherited)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file or symlink", rel)
	}
	if err := fsutil.CopyFile(src, dst, fi.Mode().Perm()); err != nil {
		return err
	}
	needed, runpath, err := elfDeps(src)
	if err != nil || needed == nil {
		return err
	}
	var dirs []string
	for _, r := range runpath {
		dirs = append(dirs, Normalize(strings.ReplaceAll(r, "$ORIGIN", "/"+filepath.Dir(rel))))
	}
	dirs = append(dirs, inherited...)
	for _, lib := range needed {
		p, err := c.findLib(lib, dirs, rel)
		if err != nil {
			return err
		}
		if err := c.copy(p, dirs); err != nil {
			return err
		}
	}
	return nil
}

// findLib resolves a needed library in the staging root: the run paths
// first, then the loader's defaults.
func (c *Copier) findLib(lib string, runpaths []string, from string) (string, error) {
	dirs := append(append([]string{}, runpaths...), libDirs...)
	for _, d := range dirs {
		p := filepath.Join(d, lib)
		if _, err := ResolveIn(c.From, p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("library %s needed by /%s is in none of the unpacked packages (searched %s): add the package that holds it to upstream.Packages", lib, from, strings.Join(dirs, ", "))
}

// elfDeps returns an ELF file's needed libraries and run paths; nil for a
// file that is not ELF.
func elfDeps(p string) (needed, runpath []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return nil, nil, nil // not ELF
	}
	defer f.Close()
	needed, err = f.DynString(elf.DT_NEEDED)
	if err != nil {
		return nil, nil, nil // static
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		v, _ := f.DynString(tag)
		for _, s := range v {
			runpath = append(runpath, strings.Split(s, ":")...)
		}
	}
	if needed == nil {
		needed = []string{}
	}
	return needed, runpath, nil
}

// ExpandPicks returns the merged-layout paths in staging that Picks name,
// failing on a pick that matches nothing.
func ExpandPicks(staging string, picks []string) ([]string, error) {
	var out []string
	for _, p := range picks {
		m, err := filepath.Glob(filepath.Join(staging, p))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no /%s in the unpacked packages (%s): the distribution moved or dropped it", p, strings.Join(Packages, " "))
		}
		for _, f := range m {
			rel, _ := filepath.Rel(staging, f)
			out = append(out, rel)
		}
	}
	return out, nil
}

// FindFirmware returns the staging path of a firmware file.
func FindFirmware(staging, name string) (string, error) {
	for _, d := range firmwareDirs {
		if p, err := ResolveIn(staging, filepath.Join(d, name)); err == nil {
			return filepath.Join(staging, p), nil
		}
	}
	return "", fmt.Errorf("firmware %s is in none of %s of the unpacked packages", name, strings.Join(firmwareDirs, ", "))
}

// ResolveIn follows the symlinks of rel inside root as if root were /
// (absolute targets stay inside root) and returns the merged-layout path
// of the file it names, which must exist.
func ResolveIn(root, rel string) (string, error) {
	rel = Normalize(rel)
	for i := 0; i < 40; i++ {
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return rel, nil
		}
		t, err := os.Readlink(filepath.Join(root, rel))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(t) {
			rel = Normalize(t)
		} else {
			rel = Normalize(filepath.Join(filepath.Dir(rel), t))
		}
	}
	return "", fmt.Errorf("/%s: too many levels of symbolic links", rel)
}
