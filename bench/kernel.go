package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/step"
)

// kernelToggle is the option the fragment-change round turns on: it
// touches printk alone, as a typical one-line fragment edit does.
const kernelToggle = "CONFIG_PRINTK_TIME=y"

// kernelGoal is the longest a fragment or suffix change may take.
const kernelGoal = 60 * time.Second

// kernelPhase is one measured kernel build.
type kernelPhase struct {
	name     string
	took     time.Duration
	compiles int // files compiled (kernel.Compiles)
	hits     int
}

// Kernel builds o.Kernel once without ccache (the cold build's peer), then
// four times with ccache: cold (empty build directory and ccache), no-op,
// one fragment option toggled, and the version suffix changed. It works in
// BuildDir/bench/kernel with its own ccache and stamps, so the real build
// is untouched, and logs each phase's wall time and compiler runs (ccache
// misses). The headline compares the fragment change with the cold build;
// goal: a fragment or suffix change in ≤ 60 s. Run it under
// `flock /tmp/rktbuild-kernel.lock` on shared machines.
func Kernel(ctx context.Context, o Options) (Result, error) {
	base, err := o.dir("kernel")
	if err != nil {
		return Result{}, err
	}
	if err := fsutil.RemoveAll(base); err != nil {
		return Result{}, err
	}
	ko := o.Kernel
	ko.WorkDir = filepath.Join(base, "work")
	ko.CCache = kernel.CCache{Mode: "on", Dir: filepath.Join(base, "ccache"), LogFile: filepath.Join(base, "ccache.log")}
	ko.StepStore = ""
	if ko.BuildTimestamp == "" {
		ko.BuildTimestamp = time.Unix(1700000000, 0).UTC().Format(time.RFC1123)
	}
	// The fragment copy the toggle round edits.
	configs := filepath.Join(base, "configs")
	if err := copyConfigs(ko.ConfigsDir, configs); err != nil {
		return Result{}, fmt.Errorf("copying the kernel configs: %w", err)
	}
	ko.ConfigsDir = configs
	ctx = step.WithStampDir(ctx, filepath.Join(base, "stamps"))

	var phases []kernelPhase
	build := func(name string, ko kernel.Options) error {
		if err := kernel.ZeroCCacheStats(ctx, ko.CCache.Dir); err != nil {
			return err
		}
		if err := os.Remove(ko.CCache.LogFile); err != nil && !os.IsNotExist(err) {
			return err
		}
		start := time.Now()
		if _, err := kernel.Build(ctx, ko); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		took := time.Since(start)
		st, err := kernel.ReadCCacheStats(ctx, ko.CCache.Dir)
		if err != nil {
			return err
		}
		log, err := os.ReadFile(ko.CCache.LogFile)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		n := len(kernel.Compiles(string(log)))
		phases = append(phases, kernelPhase{name, took, n, st.Hits + st.RemoteHits})
		step.Summaryf(ctx, "bench kernel: %s: %s, %d files compiled (%d ccache misses with the compiler probes), %d ccache hits", name, took.Round(100*time.Millisecond), n, st.Misses, st.Hits+st.RemoteHits)
		return nil
	}
	// The peer of the cold build: the same build without ccache, in its
	// own directories, so the cost of filling the cache is measured.
	plain := ko
	plain.WorkDir = filepath.Join(base, "plain")
	plain.CCache = kernel.CCache{Mode: "off"}
	start := time.Now()
	if _, err := kernel.Build(step.WithStampDir(ctx, filepath.Join(base, "plain-stamps")), plain); err != nil {
		return Result{}, fmt.Errorf("cold build without ccache: %w", err)
	}
	plainTook := time.Since(start)
	step.Summaryf(ctx, "bench kernel: cold build without ccache: %s", plainTook.Round(100*time.Millisecond))
	if err := fsutil.RemoveAll(plain.WorkDir); err != nil {
		return Result{}, err
	}
	if err := build("cold build", ko); err != nil {
		return Result{}, err
	}
	step.Summaryf(ctx, "bench kernel: a cold build with ccache (filling the cache) takes %.2fx the build without it", phases[0].took.Seconds()/plainTook.Seconds())
	if err := build("no-op", ko); err != nil {
		return Result{}, err
	}
	frag := filepath.Join(configs, kernel.FragmentName)
	data, err := os.ReadFile(frag)
	if err != nil {
		return Result{}, fmt.Errorf("the toggle round edits the fragment: %w", err)
	}
	if err := os.WriteFile(frag, append(data, []byte("\n"+kernelToggle+"\n")...), 0o644); err != nil {
		return Result{}, err
	}
	if err := build("fragment toggled ("+kernelToggle+")", ko); err != nil {
		return Result{}, err
	}
	ko.Suffix += "-bench"
	if err := build("suffix changed (-bench)", ko); err != nil {
		return Result{}, err
	}
	var worst time.Duration
	for _, p := range phases[2:] {
		worst = max(worst, p.took)
	}
	verdict := "meets"
	if worst > kernelGoal {
		verdict = "misses"
	}
	step.Summaryf(ctx, "bench kernel: slowest change rebuild %s %s the %s goal", worst.Round(100*time.Millisecond), verdict, kernelGoal)
	return Result{Ours: phases[2].took, Peer: phases[0].took, PeerTool: "cold build, fragment change"}, nil
}

// copyConfigs copies the configs directory Build would use (dir, or the
// copy embedded in package kernel when dir is unset or missing) to dst.
func copyConfigs(dir, dst string) error {
	if dir != "" {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return cp.Copy(dir, dst)
		}
	}
	sub, err := fs.Sub(kernel.Assets, "configs")
	if err != nil {
		return err
	}
	return os.CopyFS(dst, sub)
}
