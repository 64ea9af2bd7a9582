package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// Installed reports whether a Debian package is installed, asking dpkg.
func Installed(ctx context.Context, pkg string) bool {
	out, err := step.Command(ctx, "dpkg-query", "-W", "-f=${db:Status-Status}", pkg).Output()
	return err == nil && strings.TrimSpace(string(out)) == "installed"
}

// Packages checks Debian packages (development headers and static
// libraries that no command stands for); the zero value asks dpkg and
// installs with apt-get when running as root.
type Packages struct {
	// What names the packages in messages, e.g. "build dependencies for
	// the static systemd-nspawn".
	What string
	// Installed reports whether a package is installed (default: dpkg).
	Installed func(ctx context.Context, pkg string) bool
	// Root says whether packages may be installed (default: euid 0 and
	// apt-get present).
	Root *bool
	// Install installs packages (default: InstallPackages).
	Install func(ctx context.Context, pkgs ...string) error
}

// Ensure makes sure pkgs are installed: missing ones are installed when
// allowed (never in a dry run), otherwise the error names them and the
// exact command.
func (d Packages) Ensure(ctx context.Context, pkgs []string) error {
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
	if root && !step.SessionFrom(ctx).DryRun {
		install := d.Install
		if install == nil {
			install = InstallPackages
		}
		step.Summaryf(ctx, "installing %s: %s", d.What, cmd)
		if err := install(ctx, missing...); err != nil {
			return fmt.Errorf("installing the %s: %w", d.What, err)
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
	return fmt.Errorf("missing %s: %s; install them with `sudo %s`", d.What, strings.Join(missing, ", "), cmd)
}
