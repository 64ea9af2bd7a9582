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
	"sort"
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
	return c, nil
}

// planned maps target names to functions `mage plan` can dry-run.
var planned = map[string]func(context.Context) error{}

// register makes a target available to `mage plan`.
func register(name string, fn func(context.Context) error) {
	planned[strings.ToLower(name)] = fn
}

// Config prints every effective configuration value and where it came from
// (environment, .config or config/builder-config).
func Config() error {
	c, err := load()
	if err != nil {
		return err
	}
	c.Print(os.Stdout)
	return nil
}

// Plan prints the steps the named target would run and why, without
// running anything (a dry run; DRY_RUN=1 does the same for any target).
func Plan(ctx context.Context, target string) error {
	fn, ok := planned[strings.ToLower(target)]
	if !ok {
		var names []string
		for n := range planned {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("plan: unknown target %q; known: %s", target, strings.Join(names, ", "))
	}
	step.SetDryRun(true)
	defer step.SetDryRun(false)
	return fn(ctx)
}

// Bench groups the benchmarks; each prints a BENCH line that `mage bench`
// tabulates against the peer tool it was measured with.
type Bench mg.Namespace
