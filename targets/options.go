package targets

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rktbuild/rktbuild/bench"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/rootfs"
)

// This file maps the configuration to each package's typed options; each
// area keeps its functions in its own block.

// --- bench ---

// benchOptions maps the configuration, BENCH_RUNS and ACI_BENCH_ROOTFS to
// bench.Options.
func benchOptions(c *config.Config) (bench.Options, error) {
	o := bench.Options{BuildDir: c.BuildDir, Config: c, KernelTools: kernelTools,
		Rootfs: rootfs.FromConfig(c), AciRootfs: os.Getenv("ACI_BENCH_ROOTFS"),
		Rkt: rkt.Options{WorkDir: filepath.Join(c.BuildDir, "rkt")}, RktTools: rktTools}
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("BENCH_RUNS=%q is not a positive number of rounds: set e.g. BENCH_RUNS=3", v)
		}
		o.Runs = n
	}
	k, err := kernelOptions(c)
	if err != nil {
		return o, err
	}
	o.Kernel = k
	self, err := os.Executable()
	if err != nil {
		return o, err
	}
	o.Self = self
	return o, nil
}
