// Package patch applies patch series to source trees idempotently, for the
// kernel and the static systemd-nspawn builds: a patch that is already
// applied is skipped, one that does not apply is an error naming it, and no
// fuzz is allowed (a hunk whose context changed is a failure, not a guess).
package patch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Result says what happened to one patch.
type Result struct {
	Patch  string
	Status string // "applied" or "already applied"
}

// List returns the *.patch files of dir in name order (none when dir does
// not exist).
func List(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		return nil, err
	}
	sort.Strings(m)
	return m, nil
}

// Apply applies patches to the tree in dir with `patch -p1`, in order. A
// patch whose reverse applies cleanly is already applied and is skipped; a
// patch that applies neither way is an error naming it and what (e.g.
// "systemd 252") it was applied to, with patch's report. Each patch is
// dry-run first, so a failing patch leaves the tree unchanged. The
// Results say which were applied and which skipped; callers report them.
func Apply(ctx context.Context, dir, what string, patches []string) ([]Result, error) {
	var res []Result
	for _, p := range patches {
		abs, err := filepath.Abs(p)
		if err != nil {
			return res, err
		}
		if _, err := os.Stat(abs); err != nil {
			return res, fmt.Errorf("patch %s: %w", p, err)
		}
		run := func(args ...string) error {
			a := append([]string{"-p1", "--batch", "--force", "--silent", "--no-backup-if-mismatch", "--fuzz=0", "-r", "-", "-i", abs}, args...)
			cmd := exec.CommandContext(ctx, "patch", a...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("patch %s: %w\n%s", strings.Join(a, " "), err, out)
			}
			return nil
		}
		// Reverse first, without fuzz: when the patch's result is already
		// in the tree it is applied (this also catches patches that only
		// add lines, which would otherwise apply a second time at an offset).
		if err := run("--dry-run", "--reverse"); err == nil {
			res = append(res, Result{p, "already applied"})
			continue
		}
		if err := run("--dry-run"); err == nil {
			if err := run(); err != nil {
				return res, fmt.Errorf("patch %s: applying to %s failed after a clean dry run: %w", p, what, err)
			}
			res = append(res, Result{p, "applied"})
			continue
		}
		var tail string
		out, _ := exec.CommandContext(ctx, "patch", "-p1", "--batch", "--dry-run", "--fuzz=0", "-d", dir, "-i", abs).Output()
		if o := strings.TrimSpace(string(out)); o != "" {
			tail = ":\n" + indent(o)
		}
		return res, fmt.Errorf("patch %s does not apply to %s (%s), neither forward nor already applied: update or remove it%s", p, what, dir, tail)
	}
	return res, nil
}

// Files lists the files a -p1 unified diff changes, relative to the tree
// (new files included, /dev/null skipped).
func Files(diff []byte) []string {
	seen := map[string]bool{}
	var files []string
	for _, line := range strings.Split(string(diff), "\n") {
		if !strings.HasPrefix(line, "+++ ") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "+++ "), "\t")
		name = strings.TrimSpace(name)
		if name == "/dev/null" {
			continue
		}
		if _, rest, ok := strings.Cut(name, "/"); ok {
			name = rest
		}
		name = filepath.Clean(name)
		if name == "." || strings.HasPrefix(name, "..") || filepath.IsAbs(name) || seen[name] {
			continue
		}
		seen[name] = true
		files = append(files, name)
	}
	sort.Strings(files)
	return files
}

func indent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 10 {
		lines = lines[:10]
	}
	return "    " + strings.Join(lines, "\n    ")
}
