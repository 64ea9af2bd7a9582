// Package host checks and installs what rktbuild needs on the build host:
// commands and files (Tool: Present, Missing, Need) and Debian packages
// (Packages, InstallPackages), with apt-get when running as root and an
// error naming the exact install command otherwise. It is the one place
// that knows about apt.
package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"

	"github.com/rktbuild/rktbuild/step"
	"strings"
	"sync"
)

// Tool is a host program (or file, such as a header) a target needs.
type Tool struct {
	// Command is looked up in PATH (or is an absolute path).
	Command string
	// File, when set instead of Command, is a path that must exist (a
	// header or library a build needs, e.g. /usr/include/gelf.h).
	File string
	// Package is the Debian/Ubuntu package that provides it.
	Package string
	// VersionArgs print its version (first line is shown), e.g. {"--version"}.
	VersionArgs []string
}

// Present reports whether the tool is installed, with its version line.
func (t Tool) Present(ctx context.Context) (bool, string) {
	if t.Command == "" {
		_, err := os.Stat(t.File)
		return err == nil, t.File
	}
	path, err := exec.LookPath(t.Command)
	if err != nil {
		return false, ""
	}
	if len(t.VersionArgs) == 0 {
		return true, path
	}
	out, _ := step.Command(ctx, path, t.VersionArgs...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return true, line
}

// Missing returns the tools that are not installed. It only searches PATH,
// so it is cheap enough for every target run.
func Missing(ctx context.Context, tools ...Tool) []Tool {
	var miss []Tool
	for _, t := range tools {
		if !t.found() {
			miss = append(miss, t)
		}
	}
	return miss
}

// Name is the command, or the file for a file requirement.
func (t Tool) Name() string {
	if t.Command == "" {
		return t.File
	}
	return t.Command
}

func (t Tool) found() bool {
	if t.Command == "" {
		_, err := os.Stat(t.File)
		return err == nil
	}
	_, err := exec.LookPath(t.Command)
	return err == nil
}

// InstallCommand is the apt-get command that installs tools' packages.
func InstallCommand(tools []Tool) string {
	return "apt-get install -y " + strings.Join(packages(tools), " ")
}

func packages(tools []Tool) []string {
	set := map[string]bool{}
	var pkgs []string
	for _, t := range tools {
		if !set[t.Package] {
			set[t.Package] = true
			pkgs = append(pkgs, t.Package)
		}
	}
	sort.Strings(pkgs)
	return pkgs
}

// Need checks that tools are installed. When some are missing and this
// process is root on a system with apt-get, it installs them (printing
// what it does); otherwise it returns an error naming the missing tools and
// the command that installs them.
func Need(ctx context.Context, tools ...Tool) error {
	if step.SessionFrom(ctx).DryRun {
		// A plan installs nothing and goes on: it says what is missing.
		if miss := Missing(ctx, tools...); len(miss) > 0 {
			step.Printf(ctx, "would need missing host tools (%s)\n", InstallCommand(miss))
		}
		return nil
	}
	canInstall := false
	if os.Geteuid() == 0 {
		_, err := exec.LookPath("apt-get")
		canInstall = err == nil
	}
	return need(ctx, canInstall, tools)
}

// need is Need with the decision whether to install made by the caller.
func need(ctx context.Context, canInstall bool, tools []Tool) error {
	miss := Missing(ctx, tools...)
	if len(miss) == 0 {
		return nil
	}
	var names []string
	for _, t := range miss {
		names = append(names, t.Name())
	}
	if canInstall {
		step.Summaryf(ctx, "installing missing host tools %s: %s", strings.Join(names, ", "), InstallCommand(miss))
		if err := InstallPackages(ctx, packages(miss)...); err != nil {
			return err
		}
		if miss = Missing(ctx, miss...); len(miss) == 0 {
			return nil
		}
	}
	return fmt.Errorf("missing host tools: %s; install them with `sudo %s` or run `sudo mage setup`",
		strings.Join(names, ", "), InstallCommand(miss))
}

var aptUpdated sync.Once

// InstallPackages runs apt-get update (once per process) and apt-get
// install for pkgs. It needs root.
func InstallPackages(ctx context.Context, pkgs ...string) error {
	var uerr error
	aptUpdated.Do(func() { uerr = step.Cmd{Jobs: 1}.Run(ctx, "apt-get", "update") })
	if uerr != nil {
		return uerr
	}
	args := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	return step.Cmd{Env: []string{"DEBIAN_FRONTEND=noninteractive"}}.Run(ctx, "apt-get", args...)
}
