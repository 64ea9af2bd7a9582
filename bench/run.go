package bench

import (
	"context"
	"fmt"

	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/step"
)

// RunImage times `mage run base -args=true` (configuration, signature
// check, cached rendering lookup, systemd-nspawn on an overlay) against bare
// `systemd-nspawn --volatile=overlay true` in the same rendered rootfs: the
// cost of rktbuild's rkt-style checks on every run. Medians of o.Runs
// (default 5) runs each; it builds the base image first if needed.
func RunImage(ctx context.Context, o Options) (Result, error) {
	if o.Recipes == nil || o.Self == "" {
		return Result{}, fmt.Errorf("bench run needs the recipe settings and the mage binary (run it as `mage bench run`)")
	}
	if err := (step.Cmd{Live: true}).Run(ctx, o.Self, "image", "base"); err != nil {
		return Result{}, fmt.Errorf("bench run needs the base image: %w", err)
	}
	r, runner, err := recipes.Prepare(ctx, o.Recipes, o.Verifier, recipes.BaseFile(o.Recipes), false)
	if err != nil {
		return Result{}, err
	}
	n := o.runs(5)
	ours, err := timeCommand(ctx, n, o.Self, "run", "base", "-args=true")
	if err != nil {
		return Result{}, err
	}
	args, err := nspawn.Args(nspawn.Options{Root: r.Rootfs(), Volatile: true, Args: []string{"true"}})
	if err != nil {
		return Result{}, err
	}
	peer, err := timeCommand(ctx, n, runner.Binary, args...)
	if err != nil {
		return Result{}, err
	}
	return Result{Ours: ours, Peer: peer, PeerTool: "systemd-nspawn --volatile=overlay true"}, nil
}

// Noop times a no-op `buildStage1` (everything up to date) against
// `mage -l` on the same checkout (mage's own start-up), medians of o.Runs
// (default 9) runs of the compiled magefile each. It builds the stage1
// image first if needed. Goal: the build graph check adds under 20%.
func Noop(ctx context.Context, o Options) (Result, error) {
	if o.Self == "" {
		return Result{}, fmt.Errorf("bench noop needs the mage binary (run it as `mage bench noop`)")
	}
	if err := (step.Cmd{Live: true}).Run(ctx, o.Self, "buildStage1"); err != nil {
		return Result{}, fmt.Errorf("bench noop needs a successful buildStage1 first: %w", err)
	}
	n := o.runs(9)
	ours, err := timeCommand(ctx, n, o.Self, "buildStage1")
	if err != nil {
		return Result{}, err
	}
	peer, err := timeCommand(ctx, n, o.Self, "-l")
	if err != nil {
		return Result{}, err
	}
	step.Summaryf(ctx, "bench noop: no-op buildStage1 %s, mage -l %s, overhead %.0f%%", ours, peer, (ours.Seconds()/peer.Seconds()-1)*100)
	return Result{Ours: ours, Peer: peer, PeerTool: "mage -l"}, nil
}
