package targets

import (
	"context"

	"github.com/rktbuild/rktbuild/bench"
	"github.com/rktbuild/rktbuild/config"
)

// Bench compares our tools with their peers and prints a ratio table.
//
// NAMES is "all" or a comma-separated list of aci, sign, fetch, run, noop,
// kernel, rootfs (see package bench). Each benchmark times our side and the
// peer tool (actool, gpg, curl | gunzip | sha512sum, systemd-nspawn,
// mage -l, debootstrap, a cold kernel build) on the same input in the same
// run. BENCH_RUNS sets the rounds; ACI_BENCH_ROOTFS=DIR packs DIR in
// bench aci. Usage: mage bench all, mage bench aci,sign.
func Bench(ctx context.Context, names string) error {
	return run(ctx, "bench", func(ctx context.Context, c *config.Config) error {
		o, err := benchOptions(c)
		if err != nil {
			return err
		}
		// The benchmarks write under S1B_BUILD_DIR/bench before any step
		// runs (the aci tree holds Go files copied from /usr/share), so
		// fence a new build directory now.
		fenceNewScratch(c.BuildDir)
		return bench.Run(ctx, o, names)
	})
}
