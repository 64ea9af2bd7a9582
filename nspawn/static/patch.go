package static

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// Patches lists the *.patch files in dir, sorted by name. A missing dir
// means no patches.
func Patches(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".patch") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// ApplyPatches applies patches (patch -p1) to tree idempotently: a patch
// that is already applied is skipped; one that neither applies nor is
// applied fails with an error naming it and what it was applied to. No
// fuzz is allowed (a hunk whose context changed is a failure, not a guess),
// and each patch is dry-run first, so a failing patch leaves the tree
// unchanged.
func ApplyPatches(ctx context.Context, tree, what string, patches []string) error {
	for _, p := range patches {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		run := func(args ...string) error {
			return step.Cmd{Dir: tree}.Run(ctx, "patch", append([]string{"-p1", "-s", "-f", "--fuzz=0", "--no-backup-if-mismatch", "-i", abs}, args...)...)
		}
		if run("-R", "--dry-run") == nil {
			step.Logf(ctx, "patch %s: already applied to %s", filepath.Base(p), what)
			continue
		}
		if err := run("-N", "--dry-run"); err != nil {
			return fmt.Errorf("patch %s no longer applies to %s (%s): update or remove it: %w", p, what, tree, err)
		}
		if err := run("-N"); err != nil {
			return fmt.Errorf("applying patch %s to %s: %w", p, what, err)
		}
		step.Logf(ctx, "patch %s: applied to %s", filepath.Base(p), what)
	}
	return nil
}
