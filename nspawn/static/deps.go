package static

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// BuildDeps are the Debian packages the host build needs: the compilers
// and build tools, apt's source tools, and the development packages whose
// static archives (.a) end up in the binary. util-linux's libmount and
// libblkid are not among them: Debian ships no static archives of those,
// so they are built from the util-linux source package.
var BuildDeps = []string{
	"build-essential", // gcc, make, libc6-dev (libc.a)
	"dpkg-dev",        // dpkg-source, which apt-get source runs
	"binutils",        // objcopy (symbol renaming, stripping), nm
	"patch",
	"pkg-config",
	"meson",
	"ninja-build",
	"gperf",
	"python3-jinja2", // systemd's meson build renders templates with it
	"libcap-dev",     // libcap.a
	"libseccomp-dev", // libseccomp.a
	"libacl1-dev",    // libacl.a
	"libcrypt-dev",   // libcrypt.a
}

// Tools are the commands behind BuildDeps, for `mage doctor`.
var Tools = []step.Tool{
	{Command: "gcc", Package: "build-essential", VersionArgs: []string{"--version"}},
	{Command: "dpkg-source", Package: "dpkg-dev", VersionArgs: []string{"--version"}},
	{Command: "objcopy", Package: "binutils", VersionArgs: []string{"--version"}},
	{Command: "patch", Package: "patch", VersionArgs: []string{"--version"}},
	{Command: "pkg-config", Package: "pkg-config", VersionArgs: []string{"--version"}},
	{Command: "meson", Package: "meson", VersionArgs: []string{"--version"}},
	{Command: "ninja", Package: "ninja-build", VersionArgs: []string{"--version"}},
	{Command: "gperf", Package: "gperf", VersionArgs: []string{"--version"}},
	{Command: "apt-get", Package: "apt", VersionArgs: []string{"--version"}},
}

// Installed reports whether a Debian package is installed, asking dpkg.
func Installed(ctx context.Context, pkg string) bool {
	out, err := step.Command(ctx, "dpkg-query", "-W", "-f=${db:Status-Status}", pkg).Output()
	return err == nil && strings.TrimSpace(string(out)) == "installed"
}

// DepChecker decides how missing build dependencies are handled; the zero
// value asks dpkg and installs with apt-get when running as root.
type DepChecker struct {
	// Installed reports whether a package is installed (default: dpkg).
	Installed func(ctx context.Context, pkg string) bool
	// Root says whether packages may be installed (default: euid 0 and
	// apt-get present).
	Root *bool
	// Install installs packages (default: step.InstallPackages).
	Install func(ctx context.Context, pkgs ...string) error
}

// Ensure makes sure pkgs are installed: missing ones are installed when
// allowed, otherwise the error names them and the exact command.
func (d DepChecker) Ensure(ctx context.Context, pkgs []string) error {
	installed := d.Installed
	if installed == nil {
		installed = Installed
	}
	var missing []string
	for _, p := range pkgs {
		if !installed(ctx, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	cmd := "apt-get install -y --no-install-recommends " + strings.Join(missing, " ")
	root := os.Geteuid() == 0
	if _, err := exec.LookPath("apt-get"); err != nil {
		root = false
	}
	if d.Root != nil {
		root = *d.Root
	}
	if root && !step.IsDryRun() {
		install := d.Install
		if install == nil {
			install = step.InstallPackages
		}
		step.Summaryf("nspawn: installing build dependencies: %s", cmd)
		if err := install(ctx, missing...); err != nil {
			return fmt.Errorf("installing the static systemd-nspawn build dependencies: %w", err)
		}
		var still []string
		for _, p := range missing {
			if !installed(ctx, p) {
				still = append(still, p)
			}
		}
		if len(still) == 0 {
			return nil
		}
		missing = still
	}
	return fmt.Errorf("missing build dependencies for the static systemd-nspawn: %s; install them with `sudo %s`",
		strings.Join(missing, ", "), cmd)
}
