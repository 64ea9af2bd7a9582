package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/step"
)

var mmdebstrapTool = step.Tool{Command: "mmdebstrap", Package: "mmdebstrap", VersionArgs: []string{"--version"}}

func init() {
	registerBench("rootfs")
}

// Rootfs times mmdebstrap against debootstrap on ROOTFS_SUITE.
//
// Both build the configured suite (e.g. bookworm) from the same warm .deb
// cache; mmdebstrap is the default builder where installed.
//
// Usage: sudo ROOTFS_SUITE=bookworm mage bench:rootfs
//
// A first mmdebstrap run fills the cache; then each builder runs
// BENCH_RUNS times (default 1, interleaved) into fresh directories under
// S1B_BUILD_DIR/bench/rootfs and the best wall time counts. Prints
// `BENCH rootfs ours=<mmdebstrap> peer=<debootstrap>`. Needs root.
func (Bench) Rootfs(ctx context.Context) error {
	if err := step.Need(ctx, debootstrapTool, mmdebstrapTool); err != nil {
		return err
	}
	if os.Geteuid() != 0 && !step.IsDryRun() {
		return fmt.Errorf("bench:rootfs needs root (debootstrap and mmdebstrap --mode=root): run `sudo go run mage.go bench:rootfs`")
	}
	c, err := load()
	if err != nil {
		return err
	}
	base, err := filepath.Abs(filepath.Join(c.BuildDir, "bench", "rootfs"))
	if err != nil {
		return err
	}
	if step.IsDryRun() {
		step.Summaryf("bench:rootfs: would build %s with mmdebstrap and debootstrap in %s", c.RootfsSuite, base)
		return nil
	}
	prevStamps := step.DefaultStampDir
	step.DefaultStampDir = filepath.Join(base, "stamps")
	defer func() { step.DefaultStampDir = prevStamps }()
	runs := benchRuns(1)
	build := func(builder string, i int) (time.Duration, error) {
		o := rootfs.FromConfig(c)
		o.Builder = builder
		o.Dir = filepath.Join(base, fmt.Sprintf("%s-%d", builder, i))
		if err := step.RemoveAll(o.Dir); err != nil {
			return 0, err
		}
		if err := step.RemoveAll(step.DefaultStampDir); err != nil {
			return 0, err
		}
		start := time.Now()
		if _, err := rootfs.Build(ctx, o); err != nil {
			return 0, fmt.Errorf("bench:rootfs: %s: %w", builder, err)
		}
		took := time.Since(start)
		step.Summaryf("bench:rootfs: %s %s: %s", builder, c.RootfsSuite, took.Round(100*time.Millisecond))
		return took, step.RemoveAll(o.Dir)
	}
	if _, err := build("mmdebstrap", 0); err != nil { // fills the .deb cache
		return err
	}
	var mm, deb time.Duration
	for i := 1; i <= runs; i++ {
		d, err := build("debootstrap", i)
		if err != nil {
			return err
		}
		if deb == 0 || d < deb {
			deb = d
		}
		m, err := build("mmdebstrap", i)
		if err != nil {
			return err
		}
		if mm == 0 || m < mm {
			mm = m
		}
	}
	printBench("rootfs", mm, deb, "debootstrap, "+c.RootfsSuite+" "+c.RootfsVariant)
	return nil
}

// benchRuns is BENCH_RUNS, or def when unset or invalid.
func benchRuns(def int) int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		return v
	}
	return def
}
