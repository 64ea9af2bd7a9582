package targets

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/step"
)

func init() {
	registerBench("kernel")
}

// kernelBenchToggle is the option the fragment-change round turns on: it
// touches printk alone, as a typical one-line fragment edit does.
const kernelBenchToggle = "CONFIG_PRINTK_TIME=y"

// kernelBenchPhase is one measured kernel build.
type kernelBenchPhase struct {
	name     string
	took     time.Duration
	compiles int // ccache misses: real compiler runs
	hits     int
}

// Kernel times cold, no-op, fragment and suffix kernel rebuilds.
//
// With ccache: a cold build (empty build directory and ccache), a no-op
// rebuild, a rebuild with one fragment option toggled, and one with the
// version suffix changed.
//
// Usage: mage bench:kernel
//
// It builds the configured kernel (S1B_KERNEL_* as for buildStage1) in
// S1B_BUILD_DIR/bench/kernel with its own ccache and stamps, so the real
// build is untouched, and prints each phase's wall time and compiler runs
// (ccache misses), then `BENCH kernel ours=<fragment change> peer=<cold>`.
// Goal: a fragment or suffix change in ≤ 60 s. Run it under
// `flock /tmp/rktbuild-kernel.lock` on shared machines.
func (Bench) Kernel(ctx context.Context) error {
	if err := needKernelTools(ctx); err != nil {
		return err
	}
	if err := step.Need(ctx, ccacheTool); err != nil {
		return err
	}
	c, err := load()
	if err != nil {
		return err
	}
	base, err := filepath.Abs(filepath.Join(c.BuildDir, "bench", "kernel"))
	if err != nil {
		return err
	}
	if step.IsDryRun() {
		step.Summaryf("bench:kernel: would build the kernel four times in %s", base)
		return nil
	}
	if err := step.RemoveAll(base); err != nil {
		return err
	}
	o, err := kernelOptions(c)
	if err != nil {
		return err
	}
	o.WorkDir = filepath.Join(base, "work")
	o.CCache = kernel.CCache{Mode: "on", Dir: filepath.Join(base, "ccache")}
	o.StepStore = ""
	if o.BuildTimestamp == "" {
		o.BuildTimestamp = time.Unix(1700000000, 0).UTC().Format(time.RFC1123)
	}
	// The fragment copy the toggle round edits.
	configs := filepath.Join(base, "configs")
	if err := copyConfigs(o.ConfigsDir, configs); err != nil {
		return fmt.Errorf("bench:kernel: copying the kernel configs: %w", err)
	}
	o.ConfigsDir = configs
	prevStamps := step.DefaultStampDir
	step.DefaultStampDir = filepath.Join(base, "stamps")
	defer func() { step.DefaultStampDir = prevStamps }()

	var phases []kernelBenchPhase
	run := func(name string, o kernel.Options) error {
		if err := kernel.ZeroCCacheStats(ctx, o.CCache.Dir); err != nil {
			return err
		}
		start := time.Now()
		if _, err := kernel.Build(ctx, o); err != nil {
			return fmt.Errorf("bench:kernel: %s: %w", name, err)
		}
		took := time.Since(start)
		st, err := kernel.ReadCCacheStats(ctx, o.CCache.Dir)
		if err != nil {
			return err
		}
		phases = append(phases, kernelBenchPhase{name, took, st.Misses, st.Hits + st.RemoteHits})
		step.Summaryf("bench:kernel: %s: %s, %d compiler runs, %d ccache hits", name, took.Round(100*time.Millisecond), st.Misses, st.Hits+st.RemoteHits)
		return nil
	}
	if err := run("cold build", o); err != nil {
		return err
	}
	if err := run("no-op", o); err != nil {
		return err
	}
	frag := filepath.Join(configs, kernel.FragmentName)
	data, err := os.ReadFile(frag)
	if err != nil {
		return fmt.Errorf("bench:kernel: the toggle round edits the fragment: %w", err)
	}
	if err := os.WriteFile(frag, append(data, []byte("\n"+kernelBenchToggle+"\n")...), 0o644); err != nil {
		return err
	}
	if err := run("fragment toggled ("+kernelBenchToggle+")", o); err != nil {
		return err
	}
	o.Suffix += "-bench"
	if err := run("suffix changed (-bench)", o); err != nil {
		return err
	}
	fmt.Println("bench:kernel phases (ccache on; compiler runs = ccache misses):")
	for _, p := range phases {
		fmt.Printf("  %-40s %9s  %5d compiler runs  %5d hits\n", p.name, p.took.Round(100*time.Millisecond), p.compiles, p.hits)
	}
	var worst time.Duration
	for _, p := range phases[2:] {
		if p.took > worst {
			worst = p.took
		}
	}
	verdict := "meets"
	if worst > 60*time.Second {
		verdict = "misses"
	}
	fmt.Printf("slowest change rebuild %s %s the 60 s goal\n", worst.Round(100*time.Millisecond), verdict)
	printBench("kernel", phases[2].took, phases[0].took, "cold build, fragment change")
	return nil
}

// copyConfigs copies the configs directory Build would use (dir, or the
// copy embedded in package kernel when dir does not exist) to dst.
func copyConfigs(dir, dst string) error {
	if dir == "" {
		dir = filepath.Join("kernel", "configs")
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return cp.Copy(dir, dst)
	}
	sub, err := fs.Sub(kernel.Assets, "configs")
	if err != nil {
		return err
	}
	return os.CopyFS(dst, sub)
}
