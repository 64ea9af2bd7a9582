// Package targets holds rktbuild's mage targets. Import it into a magefile
// with
//
//	import (
//		//mage:import
//		_ "github.com/rktbuild/rktbuild/targets"
//	)
//
// and configure it with the keys in config/builder-config. Every exported
// function here is a mage target; helpers are unexported. Targets are thin:
// they load the configuration, declare dependencies with step.Deps and call
// one package function.
package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/step"
)

// load returns the configuration and points the build graph at it.
func load() (*config.Config, error) {
	c, err := config.Get()
	if err != nil {
		return nil, err
	}
	step.DefaultStampDir = filepath.Join(c.BuildDir, ".stamps")
	step.JobsLimit = c.Jobs
	step.BeforeRun = func() { fenceNewScratch(c.BuildDir) }
	return c, nil
}

// scratchGoMod is the fence written into a scratch directory rktbuild creates.
const scratchGoMod = `// Written by rktbuild when it created this scratch directory: keeps the
// go command's ./... out of it.
module rktbuild.invalid/scratch
`

// fenceNewScratch creates the scratch directory S1B_BUILD_DIR, when it
// does not exist yet, with a go.mod that keeps `go test ./...` and
// `go vet ./...` out of it (rootfs trees and toolchains there contain Go
// sources; the go command skips directories holding their own go.mod).
// A directory that already exists belongs to the user and is left alone;
// output directories (S1B_OUT_DIR, S1B_ACI_DIR, BINS_DIR) hold images and
// binaries, no Go sources, and get no fence. Called only before a step
// really runs, so read-only targets write nothing.
func fenceNewScratch(dir string) {
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return // the step that writes there reports the real error
	}
	_ = step.WriteFileBytes(filepath.Join(dir, "go.mod"), []byte(scratchGoMod), 0o644)
}

// SIGTERM (CI, timeout) stops targets the way Ctrl-C does; see
// step.TerminateLikeInterrupt.
func init() { step.TerminateLikeInterrupt() }

// Config prints every configuration value and where it came from.
//
// It prints every effective configuration value and where it came from
// (environment, .config or config/builder-config).
func Config() error {
	c, err := load()
	if err != nil {
		return err
	}
	c.Print(os.Stdout)
	return nil
}

// Plan prints what the named target would run and why (a dry run).
//
// It prints the steps the named target would run and why, without
// running anything (a dry run; DRY_RUN=1 does the same for any target).
func Plan(ctx context.Context, target string) error {
	r, ok := lookup(target)
	if !ok || r.plan == nil {
		return fmt.Errorf("plan: unknown target %q; known: %s", target, strings.Join(planNames(), ", "))
	}
	step.SetDryRun(true)
	defer step.SetDryRun(false)
	return r.plan(ctx)
}

// Bench groups the benchmarks; each prints a BENCH line that `mage bench`
// tabulates against the peer tool it was measured with.
type Bench mg.Namespace

// All builds the stage1 image and all container images concurrently.
//
// It builds the stage1 image and every container image concurrently
// (buildStage1 and images as fail-fast dependencies sharing the S1B_JOBS
// budget; a failure in one cancels the other).
func All(ctx context.Context) error {
	step.Deps(ctx, BuildStage1, BuildImages)
	return nil
}
