package step

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
)

// Tool is a host program a target needs.
type Tool struct {
	// Command is looked up in PATH (or is an absolute path).
	Command string
	// Package is the Debian/Ubuntu package that provides it.
	Package string
	// VersionArgs print its version (first line is shown), e.g. {"--version"}.
	VersionArgs []string
}

var (
	toolsMu sync.Mutex
	needs   = map[string][]Tool{} // target -> tools
)

// Requires records that target needs tools, for `mage doctor` and `mage
// setup`. Call it from an init function next to the target.
func Requires(target string, tools ...Tool) {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	needs[target] = append(needs[target], tools...)
}

// Requirements returns every target's tools, targets sorted.
func Requirements() (targets []string, tools map[string][]Tool) {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	tools = map[string][]Tool{}
	for t, ts := range needs {
		targets = append(targets, t)
		tools[t] = append([]Tool(nil), ts...)
	}
	sort.Strings(targets)
	return targets, tools
}

// Present reports whether the tool is installed, with its version line.
func (t Tool) Present(ctx context.Context) (bool, string) {
	path, err := exec.LookPath(t.Command)
	if err != nil {
		return false, ""
	}
	if len(t.VersionArgs) == 0 {
		return true, path
	}
	out, _ := Command(ctx, path, t.VersionArgs...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return true, line
}

// Missing returns the tools that are not installed. It only searches PATH,
// so it is cheap enough for every target run.
func Missing(ctx context.Context, tools ...Tool) []Tool {
	var miss []Tool
	for _, t := range tools {
		if _, err := exec.LookPath(t.Command); err != nil {
			miss = append(miss, t)
		}
	}
	return miss
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
	miss := Missing(ctx, tools...)
	if len(miss) == 0 {
		return nil
	}
	var names []string
	for _, t := range miss {
		names = append(names, t.Command)
	}
	if os.Geteuid() == 0 && !IsDryRun() {
		if _, err := exec.LookPath("apt-get"); err == nil {
			Summaryf("installing missing host tools %s: %s", strings.Join(names, ", "), InstallCommand(miss))
			if err := InstallPackages(ctx, packages(miss)...); err != nil {
				return err
			}
			if miss = Missing(ctx, miss...); len(miss) == 0 {
				return nil
			}
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
	aptUpdated.Do(func() { uerr = Cmd{Jobs: 1}.Run(ctx, "apt-get", "update") })
	if uerr != nil {
		return uerr
	}
	args := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	return Cmd{Env: []string{"DEBIAN_FRONTEND=noninteractive"}}.Run(ctx, "apt-get", args...)
}
