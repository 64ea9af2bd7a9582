package targets

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/rktbuild/rktbuild/step"
)

// Doctor lists the host tools each target needs and how to install them.
//
// It lists the host tools each target needs, whether each is installed
// (with its version), and the exact command that installs the missing ones.
// It changes nothing; `mage setup` installs them.
func Doctor(ctx context.Context) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tTOOL\tSTATUS\tVERSION / INSTALL")
	var missing []step.Tool
	seen := map[string]bool{}
	for _, r := range table {
		for i, t := range r.tools {
			name := r.name
			if i > 0 {
				name = ""
			}
			ok, version := t.Present(ctx)
			status := "ok"
			if !ok {
				status = "MISSING"
				version = "apt-get install " + t.Package
				if !seen[t.Command] {
					seen[t.Command] = true
					missing = append(missing, t)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, t.Command, status, version)
		}
	}
	tw.Flush()
	if len(missing) == 0 {
		fmt.Println("\nall host tools are installed")
		return nil
	}
	fmt.Printf("\n%d tool(s) missing; install them with:\n  sudo %s\nor run: sudo go run mage.go setup\n", len(missing), step.InstallCommand(missing))
	return nil
}

// Setup installs every missing host tool (root, Debian/Ubuntu).
//
// It installs, as root on Debian/Ubuntu, every host tool any target needs
// (see `mage doctor`). It runs apt-get update first.
func Setup(ctx context.Context) error {
	var all []step.Tool
	for _, r := range table {
		all = append(all, r.tools...)
	}
	miss := step.Missing(ctx, all...)
	if len(miss) == 0 {
		step.Summaryf("setup: all host tools are installed")
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("setup needs root to install packages: run `sudo go run mage.go setup`, or `sudo %s`", step.InstallCommand(miss))
	}
	return step.Need(ctx, miss...)
}

// Test runs the fast suite, the fuzz targets, then e2e when root.
//
// It runs the test suite: `go test ./...` (the fast suite), the fuzz
// targets for a bounded time each (see Fuzz), then, when
// running as root, `mage e2e` (debootstrap, kernel build and qemu boot,
// static nspawn build). It is the README's test command and what CI runs.
// Without root the end-to-end part is skipped with a message, except under
// CI=true, where that is an error.
func Test(ctx context.Context) error {
	step.Summaryf("== fast suite: go test ./...")
	if err := (step.Cmd{Live: true}).Run(ctx, "go", "test", "-count=1", "./..."); err != nil {
		return fmt.Errorf("fast suite failed: %w", err)
	}
	if err := Fuzz(ctx); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("the end-to-end suite needs root and CI=true is set: run CI as root")
		}
		step.Summaryf("== end-to-end suite skipped: it needs root (debootstrap, systemd-nspawn, chroot); run `sudo go run mage.go test`")
		return nil
	}
	return E2e(ctx)
}

// E2e runs the long end-to-end suite as root.
//
// It runs the long end-to-end suite (`go test -tags e2e ./e2e/`) as root:
// it installs missing host tools first, then builds real rootfs trees,
// kernels, stage1 images and a static systemd-nspawn, and boots the kernel
// under qemu. E2E_RUN=regexp selects tests.
func E2e(ctx context.Context) error {
	if err := Setup(ctx); err != nil {
		return err
	}
	step.Summaryf("== end-to-end suite: go test -tags e2e ./e2e/")
	args := []string{"test", "-tags", "e2e", "-count=1", "-timeout", "80m", "-v"}
	if r := os.Getenv("E2E_RUN"); r != "" {
		args = append(args, "-run", r)
	}
	args = append(args, "./e2e/")
	return (step.Cmd{Live: true}).Run(ctx, "go", args...)
}
