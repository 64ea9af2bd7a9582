// Package rootfs builds Debian/Ubuntu root file systems with debootstrap and
// leaves running commands inside them to package nspawn (the layer above).
//
// Downloaded .deb files are kept in a cache directory that the next
// debootstrap reuses (--cache-dir) and that apt inside a rootfs sees as
// /var/cache/apt/archives, so only what changed is fetched again. A rootfs
// is rebuilt only when its inputs (suite, mirror, keyring, variant,
// components, packages, arch, overlay files, this package's Version)
// change, decided by step.Do from a hash of those inputs.
package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/step"
)

// Version is folded into every rootfs step's inputs: bump it when a change
// to this package changes what a rootfs contains.
const Version = "1"

// AptArchives is where apt keeps downloaded packages inside a rootfs; the
// .deb cache is bind-mounted there.
const AptArchives = "/var/cache/apt/archives"

// Options describe a debootstrap run.
type Options struct {
	Suite      string   // e.g. bookworm, xenial
	Mirror     string   // empty: debootstrap's default for the suite
	Keyring    string   // empty: debootstrap's default
	Variant    string   // e.g. minbase; empty: debootstrap's default
	Components []string // e.g. main universe
	Packages   []string // extra packages (--include)
	Arch       string   // Debian architecture, e.g. amd64
	// Dir is the rootfs directory that is written (atomically replaced).
	Dir string
	// CacheDir keeps downloaded .debs between runs.
	CacheDir string
	// Overlay, when set, is a directory whose contents are copied over the
	// rootfs after debootstrap.
	Overlay string
	// Builder is ROOTFS_BUILDER: "auto" (mmdebstrap when installed, else
	// debootstrap), "mmdebstrap" or "debootstrap"; empty means auto.
	Builder string
	// Debootstrap is the program to run; empty means the Builder's name
	// in PATH.
	Debootstrap string
	// ScriptsDir is where debootstrap's suite scripts live; empty means
	// $DEBOOTSTRAP_DIR/scripts or /usr/share/debootstrap/scripts.
	ScriptsDir string
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.+_-]*$`)

// Check validates the options without running anything: names are
// well-formed, the suite is one debootstrap knows, the keyring exists, and
// debootstrap is installed.
func (o Options) Check() error {
	if o.Suite == "" {
		return errors.New("ROOTFS_SUITE is empty: set it to a Debian or Ubuntu suite such as bookworm or xenial")
	}
	if !nameRe.MatchString(o.Suite) {
		return fmt.Errorf("ROOTFS_SUITE=%q is not a suite name", o.Suite)
	}
	if o.Arch == "" || !nameRe.MatchString(o.Arch) {
		return fmt.Errorf("ROOTFS_ARCH=%q is not a Debian architecture name such as amd64", o.Arch)
	}
	if o.Variant != "" && !nameRe.MatchString(o.Variant) {
		return fmt.Errorf("ROOTFS_VARIANT=%q is not a debootstrap variant such as minbase", o.Variant)
	}
	for _, p := range o.Packages {
		if !nameRe.MatchString(p) {
			return fmt.Errorf("ROOTFS_PACKAGES: %q is not a package name", p)
		}
	}
	for _, p := range o.Components {
		if !nameRe.MatchString(p) {
			return fmt.Errorf("ROOTFS_COMPONENTS: %q is not a component name", p)
		}
	}
	if o.Mirror != "" && !strings.Contains(o.Mirror, "://") {
		return fmt.Errorf("ROOTFS_MIRROR=%q is not a URL (http://HOST/PATH, https://..., file:///...)", o.Mirror)
	}
	if o.Keyring != "" {
		if _, err := os.Stat(o.Keyring); err != nil {
			return fmt.Errorf("ROOTFS_KEYRING=%s: %v", o.Keyring, err)
		}
	}
	if o.Overlay != "" {
		if fi, err := os.Stat(o.Overlay); err != nil || !fi.IsDir() {
			return fmt.Errorf("ROOTFS_OVERLAY=%s is not a directory", o.Overlay)
		}
	}
	if o.Dir == "" || o.CacheDir == "" {
		return errors.New("rootfs: Dir and CacheDir must be set")
	}
	bin, err := o.binary()
	if err != nil {
		return err
	}
	scripts := o.ScriptsDir
	if scripts == "" {
		if d := os.Getenv("DEBOOTSTRAP_DIR"); d != "" {
			scripts = filepath.Join(d, "scripts")
		} else {
			scripts = "/usr/share/debootstrap/scripts"
		}
	}
	script, err := os.ReadFile(filepath.Join(scripts, o.Suite))
	if err != nil && isMmdebstrap(bin) {
		if _, serr := os.Stat(scripts); os.IsNotExist(serr) {
			// No debootstrap installed to know the suites: mmdebstrap
			// itself (apt) reports an unknown suite.
			script, err = nil, nil
		}
	}
	if err != nil {
		return fmt.Errorf("unknown ROOTFS_SUITE %q: %s has no script for it in %s (use a suite it knows, e.g. bookworm or xenial, or update the debootstrap package)",
			o.Suite, bin, scripts)
	}
	if o.Keyring == "" {
		// debootstrap silently skips signature checks when the suite's
		// default keyring is missing; refuse instead.
		if m := keyringRe.FindSubmatch(script); m != nil {
			kr := string(m[1])
			if _, err := os.Stat(kr); err != nil {
				pkg := "the archive keyring package"
				switch {
				case strings.Contains(kr, "ubuntu"):
					pkg = "ubuntu-keyring"
				case strings.Contains(kr, "debian"):
					pkg = "debian-archive-keyring"
				}
				return fmt.Errorf("ROOTFS_SUITE=%s: the archive would not be verified: debootstrap's keyring %s is missing; install %s (apt-get install %s) or set ROOTFS_KEYRING",
					o.Suite, kr, pkg, pkg)
			}
		}
	}
	return nil
}

var keyringRe = regexp.MustCompile(`(?m)^keyring\s+(\S+)\s*$`)

func (o Options) binary() (string, error) {
	if o.Debootstrap != "" {
		p, err := exec.LookPath(o.Debootstrap)
		if err != nil {
			return "", fmt.Errorf("%s not found in PATH: install the debootstrap or mmdebstrap package or run `mage setup`", o.Debootstrap)
		}
		return p, nil
	}
	b, err := o.builder()
	if err != nil {
		return "", err
	}
	p, err := exec.LookPath(b)
	if err != nil {
		return "", fmt.Errorf("%s not found in PATH: install the %s package (apt-get install %s) or run `mage setup`", b, b, b)
	}
	return p, nil
}

// Builders are the ROOTFS_BUILDER values.
var Builders = []string{"auto", "mmdebstrap", "debootstrap"}

// builder resolves ROOTFS_BUILDER: auto picks mmdebstrap (several times
// faster, reproducible with SOURCE_DATE_EPOCH) when it is installed and
// debootstrap otherwise.
func (o Options) builder() (string, error) {
	switch o.Builder {
	case "", "auto":
		if _, err := exec.LookPath("mmdebstrap"); err == nil {
			return "mmdebstrap", nil
		}
		return "debootstrap", nil
	case "mmdebstrap", "debootstrap":
		return o.Builder, nil
	}
	return "", fmt.Errorf("ROOTFS_BUILDER=%q: expected auto, mmdebstrap or debootstrap", o.Builder)
}

// isMmdebstrap reports whether bin is mmdebstrap.
func isMmdebstrap(bin string) bool { return strings.HasPrefix(filepath.Base(bin), "mmdebstrap") }

// MmdebstrapArgs returns mmdebstrap's arguments for a run into target:
// the same variant, components, packages, keyring and mirror as Args, and
// the .deb cache synced in before and out after (mmdebstrap has no
// --cache-dir). It is pure; CacheDir must already be absolute.
func (o Options) MmdebstrapArgs(target string) []string {
	args := append([]string{"--mode=root"}, o.selectionArgs()...)
	if o.CacheDir != "" {
		args = append(args,
			"--skip=essential/unlink",
			`--setup-hook=mkdir -p "$1"`+AptArchives,
			"--setup-hook=sync-in "+o.CacheDir+" "+AptArchives,
			"--customize-hook=sync-out "+AptArchives+" "+o.CacheDir)
	}
	args = append(args, o.Suite, target)
	if o.Mirror != "" {
		args = append(args, o.Mirror)
	}
	return args
}

// selectionArgs are the options debootstrap and mmdebstrap share: what
// to install, and the keyring that verifies it.
func (o Options) selectionArgs() []string {
	args := []string{"--arch=" + o.Arch}
	if o.Variant != "" {
		args = append(args, "--variant="+o.Variant)
	}
	if len(o.Components) > 0 {
		args = append(args, "--components="+strings.Join(o.Components, ","))
	}
	if len(o.Packages) > 0 {
		args = append(args, "--include="+strings.Join(o.Packages, ","))
	}
	if o.Keyring != "" {
		args = append(args, "--keyring="+o.Keyring)
	}
	return args
}

// Args returns debootstrap's arguments (without the program) for a run
// into target. It is pure; CacheDir must already be absolute.
func (o Options) Args(target string) []string {
	args := o.selectionArgs()
	if o.CacheDir != "" {
		args = append(args, "--cache-dir="+o.CacheDir)
	}
	args = append(args, o.Suite, target)
	if o.Mirror != "" {
		args = append(args, o.Mirror)
	}
	return args
}

// Inputs are what the rootfs depends on.
func (o Options) Inputs() step.Inputs {
	in := step.Inputs{Values: map[string]string{
		"suite":      o.Suite,
		"mirror":     o.Mirror,
		"keyring":    o.Keyring,
		"variant":    o.Variant,
		"components": strings.Join(o.Components, " "),
		"packages":   strings.Join(o.Packages, " "),
		"arch":       o.Arch,
		"version":    Version,
		"builder":    o.builderName(),
	}}
	if o.Keyring != "" {
		in.Files = append(in.Files, o.Keyring)
	}
	if o.Overlay != "" {
		in.Files = append(in.Files, o.Overlay)
	}
	return in
}

// builderName is the resolved builder, or the raw value when invalid
// (Check reports that).
func (o Options) builderName() string {
	if o.Debootstrap != "" {
		return filepath.Base(o.Debootstrap)
	}
	b, err := o.builder()
	if err != nil {
		return o.Builder
	}
	return b
}

// Build runs debootstrap into o.Dir unless it is up to date. The rootfs
// appears under its final name only when debootstrap succeeded.
func Build(ctx context.Context, o Options) (step.Result, error) {
	if err := o.Check(); err != nil {
		return step.Result{}, err
	}
	cache, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return step.Result{}, err
	}
	o.CacheDir = cache
	return step.Do(ctx, step.Step{
		Name:    "rootfs:" + o.Suite + "-" + o.Arch,
		Inputs:  o.Inputs(),
		Outputs: []string{o.Dir},
		Run: func(ctx context.Context) error {
			return Bootstrap(ctx, o)
		},
	})
}

// Bootstrap builds the tree o describes into o.Dir with debootstrap or
// mmdebstrap, replacing it atomically, with the .deb cache in o.CacheDir
// (created; it must be absolute). It is Build's work without the
// up-to-date check, for callers with their own step.
func Bootstrap(ctx context.Context, o Options) error {
	bin, err := o.binary()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return err
	}
	args := o.Args
	if isMmdebstrap(bin) {
		args = o.MmdebstrapArgs
	}
	step.Summaryf(ctx, "%s %s (%s) into %s", filepath.Base(bin), o.Suite, mirrorName(o.Mirror), o.Dir)
	return fsutil.ReplaceDir(o.Dir, func(tmp string) error {
		err := step.Cmd{Env: []string{"DEBIAN_FRONTEND=noninteractive"}}.Run(ctx, bin, args(tmp)...)
		if err != nil {
			return explain(err, o)
		}
		// debootstrap leaves its downloads in the target too; the cache has
		// them, the rootfs does not need them.
		debs, _ := filepath.Glob(filepath.Join(tmp, AptArchives, "*.deb"))
		for _, d := range debs {
			_ = os.Remove(d)
		}
		if o.Overlay != "" {
			if err := step.Run(ctx, "cp", "-a", "--", o.Overlay+"/.", tmp+"/"); err != nil {
				return fmt.Errorf("copying overlay %s: %w", o.Overlay, err)
			}
		}
		return nil
	})
}

func mirrorName(m string) string {
	if m == "" {
		return "the default mirror"
	}
	return m
}

// explain turns debootstrap's typical failures into errors that say what to
// fix, keeping the command's output.
func explain(err error, o Options) error {
	var ce *step.CmdError
	if !errors.As(err, &ce) {
		return err
	}
	tail := strings.Join(ce.Tail, "\n")
	switch {
	case strings.Contains(tail, "Failed getting release file"),
		strings.Contains(tail, "Failure trying to run") && strings.Contains(tail, "wget"),
		strings.Contains(tail, "Couldn't download"),
		strings.Contains(tail, "Connection refused"),
		strings.Contains(tail, "unable to resolve"):
		return fmt.Errorf("debootstrap could not download %s from %s: check ROOTFS_MIRROR and the network: %w", o.Suite, mirrorName(o.Mirror), err)
	case strings.Contains(tail, "Release signed by unknown key"),
		strings.Contains(tail, "Couldn't find these debs"),
		strings.Contains(tail, "Invalid Release signature"):
		return fmt.Errorf("debootstrap could not verify %s: check ROOTFS_KEYRING (Ubuntu suites need ubuntu-keyring): %w", o.Suite, err)
	}
	return err
}
