// Package static builds a statically linked systemd-nspawn from the
// distribution's systemd source package, so images can be run on hosts (and
// inside build roots) that have no systemd libraries at all.
//
// The build, all under <S1B_BUILD_DIR>/nspawn/work and kept for incremental
// rebuilds:
//
//  1. A private apt configuration with deb-src entries for the release,
//     derived from the host's own apt sources (the host's setup is never
//     modified); `apt-get source` fetches systemd and util-linux, checking
//     the signed Release file and the .dsc checksums.
//  2. util-linux's libmount and libblkid are built static (Debian ships no
//     libmount.a / libblkid.a) and their internal symbols are renamed so
//     they cannot clash with systemd's (see SymbolPrefix).
//  3. systemd is patched (nspawn/patches/systemd, idempotent) with a
//     systemd-nspawn.static target, configured with every optional
//     component off except seccomp, ACL and blkid, and only that target is
//     built.
//  4. The stripped binary is written atomically to
//     <S1B_BUILD_DIR>/nspawn/systemd-nspawn, where the runner (package
//     nspawn) looks first.
//
// Each stage is a step.Do step: nothing is rebuilt unless its inputs (source
// versions, patches, options) changed.
package static

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rktbuild/rktbuild/host"
	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/patch"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/step"
)

// Recipe is folded into the build steps' inputs: bump it when a change to
// this package changes the binary.
const Recipe = "1"

// BinaryName is the output's file name, in Options.Dir.
const BinaryName = "systemd-nspawn"

// Options describe a build.
type Options struct {
	// Release is the distribution release whose systemd is built, e.g.
	// bookworm.
	Release string
	// BuildIn is where to build: "host" (the only one implemented) or
	// "rootfs".
	BuildIn string
	// Dir is <S1B_BUILD_DIR>/nspawn: the binary goes to Dir/systemd-nspawn,
	// the kept build trees to Dir/work.
	Dir string
	// PatchDir holds systemd/*.patch and util-linux/*.patch.
	PatchDir string
	// Jobs is the parallelism of make and ninja.
	Jobs int
	// Host apt configuration the private one is derived from (defaults:
	// /etc/apt/sources.list, /etc/apt/sources.list.d, /etc/os-release).
	SourcesList, SourceParts, OSRelease string
	// Deps checks and installs build dependencies.
	Deps host.Packages
	// Rootfs holds the debootstrap settings (mirror, keyring, arch, .deb
	// cache) of the build root used when BuildIn is "rootfs"; suite,
	// packages and directory are set by Build.
	Rootfs rootfs.Options
}

// Binary is the output path.
func (o Options) Binary() string { return filepath.Join(o.Dir, BinaryName) }

func (o Options) work(p ...string) string {
	return filepath.Join(append([]string{o.Dir, "work"}, p...)...)
}

func (o Options) withDefaults() Options {
	if o.SourcesList == "" {
		o.SourcesList = "/etc/apt/sources.list"
	}
	if o.SourceParts == "" {
		o.SourceParts = "/etc/apt/sources.list.d"
	}
	if o.OSRelease == "" {
		o.OSRelease = "/etc/os-release"
	}
	if o.Deps.What == "" {
		o.Deps.What = "build dependencies for the static systemd-nspawn"
	}
	if o.Jobs < 1 {
		o.Jobs = 1
	}
	if abs, err := filepath.Abs(o.Dir); err == nil && o.Dir != "" {
		// apt resolves relative Dir:: paths against /etc/apt.
		o.Dir = abs
	}
	if o.BuildIn == "" {
		o.BuildIn = "host"
	}
	return o
}

// Check validates the options without running anything.
func (o Options) Check() error {
	switch o.BuildIn {
	case "host", "":
	case "rootfs":
	default:
		return fmt.Errorf("NSPAWN_BUILD_IN=%q: expected host or rootfs", o.BuildIn)
	}
	if o.Release == "" {
		return errors.New("no release to build systemd-nspawn from: set NSPAWN_RELEASE (or ROOTFS_SUITE), e.g. bookworm")
	}
	if strings.ContainsAny(o.Release, " /\t'\"") {
		return fmt.Errorf("NSPAWN_RELEASE=%q is not a release name such as bookworm", o.Release)
	}
	if o.Dir == "" {
		return errors.New("nspawn build: no output directory (S1B_BUILD_DIR)")
	}
	if fi, err := os.Stat(filepath.Join(o.PatchDir, "systemd")); err != nil || !fi.IsDir() {
		return fmt.Errorf("nspawn build: patch directory %s/systemd not found: run mage from the rktbuild checkout", o.PatchDir)
	}
	return nil
}

// withPatches points PatchDir at the embedded patches (written below Dir)
// when the configured directory does not exist, as in a repository that
// imports rktbuild's targets.
func (o Options) withPatches() (Options, error) {
	if o.Dir == "" {
		return o, nil
	}
	dir, err := patch.AssetDir(o.PatchDir, nspawn.Patches, "patches", o.Dir)
	if err != nil {
		return o, fmt.Errorf("nspawn build: patches: %w", err)
	}
	o.PatchDir = dir
	return o, nil
}

// Result says what Build did.
type Result struct {
	Binary           string
	Ran              bool // the binary was (re)built
	Release          string
	SystemdVersion   string
	UtilLinuxVersion string
}

// Build produces the static systemd-nspawn unless it is up to date.
func Build(ctx context.Context, o Options) (Result, error) {
	o, err := o.withDefaults().withPatches()
	if err != nil {
		return Result{}, err
	}
	if err := o.Check(); err != nil {
		return Result{}, err
	}
	res := Result{Binary: o.Binary(), Release: o.Release}
	ex := HostExec
	if o.BuildIn == "rootfs" {
		// The host only fetches and patches the sources.
		if err := o.Deps.Ensure(ctx, []string{"dpkg-dev", "patch", "debootstrap"}); err != nil {
			return res, err
		}
	} else if err := o.Deps.Ensure(ctx, BuildDeps); err != nil {
		return res, err
	}
	apt := Apt{Dir: o.work("apt", o.Release)}
	if err := o.prepareApt(ctx, apt); err != nil {
		return res, err
	}
	if res.SystemdVersion, _, err = apt.SourceVersion(ctx, "systemd", o.Release); err != nil {
		return res, err
	}
	if res.UtilLinuxVersion, _, err = apt.SourceVersion(ctx, "util-linux", o.Release); err != nil {
		return res, err
	}
	sdTree, err := o.source(ctx, apt, "systemd", res.SystemdVersion)
	if err != nil {
		return res, err
	}
	ulTree, err := o.source(ctx, apt, "util-linux", res.UtilLinuxVersion)
	if err != nil {
		return res, err
	}
	if o.BuildIn == "rootfs" {
		root, err := o.buildRoot(ctx)
		if err != nil {
			return res, err
		}
		ex = ChrootExec(root, o.work())
	}
	ulPrefix := o.work(o.BuildIn, "util-linux")
	ulPatches, err := patch.List(filepath.Join(o.PatchDir, "util-linux"))
	if err != nil {
		return res, err
	}
	_, err = step.Do(ctx, step.Step{
		Name: "nspawn:util-linux",
		Inputs: step.Inputs{
			Files: []string{filepath.Join(o.PatchDir, "util-linux")},
			Values: map[string]string{
				"version":   res.UtilLinuxVersion,
				"configure": strings.Join(ConfigureArgs, " "),
				"prefix":    SymbolPrefix,
				"recipe":    Recipe,
				"build-in":  o.BuildIn,
			}},
		Outputs: []string{ulPrefix},
		Run: func(ctx context.Context) error {
			if _, err := patch.Apply(ctx, ulTree, "util-linux "+res.UtilLinuxVersion, ulPatches); err != nil {
				return err
			}
			return UtilLinux(ctx, ex, ulTree, res.UtilLinuxVersion, o.work(o.BuildIn, "util-linux-build"), ulPrefix, o.Jobs)
		},
	})
	if err != nil {
		return res, err
	}
	sdPatches, err := patch.List(filepath.Join(o.PatchDir, "systemd"))
	if err != nil {
		return res, err
	}
	r, err := step.Do(ctx, step.Step{
		Name: "nspawn:build",
		Inputs: step.Inputs{
			Files: []string{filepath.Join(o.PatchDir, "systemd"), ulPrefix},
			Values: map[string]string{
				"release":  o.Release,
				"version":  res.SystemdVersion,
				"recipe":   Recipe,
				"build-in": o.BuildIn,
				"options":  strings.Join(append(append([]string(nil), disabledBooleans...), fmt.Sprint(wantedOptions)), " "),
			}},
		Outputs: []string{o.Binary()},
		Run: func(ctx context.Context) error {
			return o.buildSystemd(ctx, ex, sdTree, res.SystemdVersion, ulPrefix, sdPatches)
		},
	})
	res.Ran = r.Ran
	return res, err
}

// prepareApt writes the private apt configuration and fetches the signed
// source indices.
func (o Options) prepareApt(ctx context.Context, apt Apt) error {
	host, err := HostSources(o.SourcesList, o.SourceParts)
	if err != nil {
		return fmt.Errorf("reading the host's apt sources: %w", err)
	}
	codename, err := HostCodename(o.OSRelease)
	if err != nil {
		return err
	}
	src, err := DeriveSources(host, codename, o.Release)
	if err != nil {
		return err
	}
	if err := apt.Setup(src); err != nil {
		return err
	}
	have := func() bool {
		m, _ := filepath.Glob(filepath.Join(apt.Dir, "lists", "*_Sources*"))
		return len(m) > 0
	}
	return step.Perform(ctx, step.Effect{
		What: "fetch the " + o.Release + " source indices",
		Have: have(),
		Run: func(ctx context.Context) error {
			err := apt.Update(ctx, o.Release)
			if err != nil && have() {
				// Offline or a mirror hiccup: the indices of the last
				// successful update are still signed and verified; use them.
				step.Summaryf(ctx, "nspawn: warning: %v\n  using the source indices of the last successful update", err)
				return nil
			}
			return err
		},
	})
}

// source fetches and unpacks pkg=version into work/src/pkg and returns the
// unpacked tree. The tree is replaced when the version or
// the package's patches (nspawn/patches/<pkg>) change, so patches are always
// applied to a pristine tree.
func (o Options) source(ctx context.Context, apt Apt, pkg, version string) (string, error) {
	dir := o.work("src", pkg)
	stampFile := filepath.Join(dir, "rktbuild-version")
	_, err := step.Do(ctx, step.Step{
		Name: "nspawn:source:" + pkg,
		Inputs: step.Inputs{
			Files:  []string{filepath.Join(o.PatchDir, pkg)},
			Values: map[string]string{"version": version, "release": o.Release},
		},
		Outputs: []string{stampFile},
		Run: func(ctx context.Context) error {
			step.Summaryf(ctx, "nspawn: fetching source package %s %s (%s)", pkg, version, o.Release)
			return fsutil.ReplaceDir(dir, func(tmp string) error {
				// apt drops privileges to _apt for downloads; let it write.
				_ = os.Chmod(tmp, 0o777)
				if _, err := apt.Fetch(ctx, pkg, version, tmp); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(tmp, "rktbuild-version"), []byte(version+"\n"), 0o644)
			})
		},
	})
	if err != nil {
		return "", err
	}
	return UnpackedDir(dir, pkg, version)
}

// buildSystemd patches, configures and builds systemd-nspawn.static, then
// writes the stripped binary to o.Binary().
func (o Options) buildSystemd(ctx context.Context, ex Exec, tree, version, ulPrefix string, patches []string) error {
	if _, err := patch.Apply(ctx, tree, "systemd "+version, patches); err != nil {
		return err
	}
	optData, err := os.ReadFile(filepath.Join(tree, "meson_options.txt"))
	if err != nil {
		return fmt.Errorf("systemd %s: %w", version, err)
	}
	margs, err := MesonArgs(ParseMesonOptions(optData), version+"+rktbuild-static")
	if err != nil {
		return err
	}
	absTree, err := filepath.Abs(tree)
	if err != nil {
		return err
	}
	absUL, err := filepath.Abs(ulPrefix)
	if err != nil {
		return err
	}
	bdir := o.work(o.BuildIn, "systemd-build")
	setupRecord := o.work(o.BuildIn, "systemd-setup.txt")
	setup := absTree + "\n" + absUL + "\n" + strings.Join(margs, "\n") + "\n"
	env := []string{"PKG_CONFIG_PATH=" + filepath.Join(absUL, "lib", "pkgconfig")}
	old, _ := os.ReadFile(setupRecord)
	_, ninjaErr := os.Stat(filepath.Join(bdir, "build.ninja"))
	if string(old) != setup || ninjaErr != nil {
		// A different source tree or option set: start from a clean build
		// directory (meson cannot switch source trees in place).
		if err := fsutil.RemoveAll(bdir); err != nil {
			return err
		}
		_ = os.Remove(setupRecord)
		args := append([]string{"setup", bdir, absTree}, margs...)
		if err := ex(ctx, step.Cmd{Env: env, Jobs: 1}, "meson", args...); err != nil {
			return fmt.Errorf("configuring systemd %s: %w", version, err)
		}
		if err := fsutil.WriteFileBytes(setupRecord, []byte(setup), 0o644); err != nil {
			return err
		}
	}
	step.Summaryf(ctx, "nspawn: building systemd-nspawn.static from systemd %s (-j%d)", version, o.Jobs)
	if err := ex(ctx, step.Cmd{Env: env, Jobs: o.Jobs}, "ninja", "-C", bdir, "-j", strconv.Itoa(o.Jobs), "systemd-nspawn.static"); err != nil {
		return fmt.Errorf("building systemd-nspawn.static from systemd %s: %w", version, err)
	}
	built := filepath.Join(bdir, "systemd-nspawn.static")
	if err := CheckStatic(built); err != nil {
		return err
	}
	stripped := o.work(o.BuildIn, "systemd-nspawn.stripped")
	if err := ex(ctx, step.Cmd{}, "objcopy", "--strip-all", built, stripped); err != nil {
		return err
	}
	defer os.Remove(stripped)
	return fsutil.WriteFile(o.Binary(), 0o755, func(w io.Writer) error {
		f, err := os.Open(stripped)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

// CheckStatic fails unless file is an ELF executable without a program
// interpreter and without dynamic section, i.e. statically linked.
func CheckStatic(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			return fmt.Errorf("%s is dynamically linked (it has a program interpreter)", file)
		case elf.PT_DYNAMIC:
			return fmt.Errorf("%s has a dynamic section: not fully static", file)
		}
	}
	return nil
}
