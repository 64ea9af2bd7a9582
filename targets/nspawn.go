package targets

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/nspawn/static"
	"github.com/rktbuild/rktbuild/step"
)

// nspawnPatchDir holds the patches applied to systemd and util-linux,
// relative to the directory mage runs in (the checkout).
const nspawnPatchDir = "nspawn/patches"

// Nspawn builds and installs a statically linked systemd-nspawn.
type Nspawn mg.Namespace

// Build builds a statically linked systemd-nspawn from distro source.
//
// It builds a statically linked systemd-nspawn from the distribution's
// systemd source package into S1B_BUILD_DIR/nspawn/systemd-nspawn.
//
// The source is the systemd (and util-linux, for a static libmount and
// libblkid) source package of NSPAWN_RELEASE (empty: ROOTFS_SUITE), fetched
// and verified by apt-get source with a private apt configuration derived
// from the host's apt sources (the host's apt setup is not touched). The
// patches in nspawn/patches are applied idempotently. NSPAWN_BUILD_IN=host
// builds on this machine: missing build packages are installed when running
// as root, else the error names the apt-get command. NSPAWN_BUILD_IN=rootfs
// compiles inside a debootstrapped build root of the release instead
// (S1B_BUILD_DIR/nspawn/work/rootfs/buildroot, cached; ROOTFS_MIRROR,
// ROOTFS_KEYRING when the release is ROOTFS_SUITE, ROOTFS_ARCH, .debs in
// CACHE_DIR); the host then needs only apt, dpkg-dev, patch and debootstrap. Uses S1B_JOBS parallel jobs. Trees are kept in
// S1B_BUILD_DIR/nspawn/work; nothing is rebuilt unless the source versions,
// patches or options changed. The runner used by image builds and `mage
// run` prefers this binary.
func (Nspawn) Build(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := static.Build(ctx, static.FromConfig(c, nspawnPatchDir))
	if err != nil || step.IsDryRun() {
		return err
	}
	fi, err := os.Stat(res.Binary)
	if err != nil {
		return err
	}
	ver, err := step.Output(ctx, res.Binary, "--version")
	if err != nil {
		return fmt.Errorf("the built %s does not run: %w", res.Binary, err)
	}
	state := "up to date"
	if res.Ran {
		state = "built in " + time.Since(start).Round(time.Second).String()
	}
	first, _, _ := strings.Cut(ver, "\n")
	step.Summaryf("nspawn: %s (%s, %.1f MB, static) %s: %s; features: %s",
		res.Binary, first, float64(fi.Size())/1e6, state, "systemd "+res.SystemdVersion+" / util-linux "+res.UtilLinuxVersion+" from "+res.Release,
		static.FeatureString(ver))
	return nil
}

// Install installs the static systemd-nspawn built by nspawn:build.
//
// -dest=PATH names the file or directory to install to; the default is
// /usr/local/bin/systemd-nspawn (ahead of /usr/bin in PATH, owned by no
// package). A file already there is kept as PATH.orig (an existing .orig,
// the first original, is never overwritten). The distribution's own
// /usr/bin/systemd-nspawn is replaced only when named with -dest. Builds
// first when needed.
func (Nspawn) Install(ctx context.Context, dest *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	step.Deps(ctx, Nspawn.Build)
	d, explicit := static.DefaultInstallDir, false
	if dest != nil && *dest != "" {
		d, explicit = *dest, true
	}
	if step.IsDryRun() {
		step.Printf("would install %s to %s\n", static.FromConfig(c, nspawnPatchDir).Binary(), d)
		return nil
	}
	res, err := static.Install(ctx, static.FromConfig(c, nspawnPatchDir).Binary(), d, explicit, nil)
	if err != nil {
		return err
	}
	switch {
	case !res.Changed:
		step.Summaryf("nspawn: %s is already this build", res.Dest)
	case res.Backup != "":
		step.Summaryf("nspawn: installed %s (previous file kept as %s)", res.Dest, res.Backup)
	default:
		step.Summaryf("nspawn: installed %s", res.Dest)
	}
	return nil
}
