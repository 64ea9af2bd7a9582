// Package bench runs rktbuild's peer comparisons: each benchmark times our
// code and the peer tool (actool, gpg, curl | gunzip | sha512sum, debootstrap,
// systemd-nspawn, mage -l, a cold kernel build) on the same input in the same
// run, and Run prints one table with the ratio peer/ours.
//
// The per-package Go benchmarks (`go test -bench . ./format/aci/ ./sign/
// ./registry/fetch/`) measure our side alone; this package is where a peer
// program runs too. The shipped targets expose it as one thin target,
// `mage bench NAMES`.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rktbuild/rktbuild/host"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Options is what the benchmarks need from the command layer.
type Options struct {
	// BuildDir holds each benchmark's scratch space (BuildDir/bench/NAME).
	BuildDir string
	// Runs is the number of timed rounds (BENCH_RUNS); 0: each
	// benchmark's own default.
	Runs int
	// Self is the compiled magefile, which the run and noop benchmarks
	// time against the peer.
	Self string
	// AciRootfs, when set, is the tree bench aci packs (ACI_BENCH_ROOTFS)
	// instead of the generated one.
	AciRootfs string
	// AciLevels are the gzip levels bench aci times; nil: the default
	// level, level 4 (faster, slightly larger) and level 6 (actool's).
	AciLevels []int
	// Kernel is the kernel build bench kernel repeats (in its own
	// directories); KernelTools are the host tools it needs.
	Kernel      kernel.Options
	KernelTools []host.Tool
	// Rkt is where bench fetch builds (or finds cached) the real rkt it
	// compares with; RktTools are the host tools that build needs. NoRkt
	// leaves rkt out.
	Rkt      rkt.Options
	RktTools []host.Tool
	NoRkt    bool
	// Rootfs is the rootfs build bench rootfs repeats with each builder.
	Rootfs rootfs.Options
	// Recipes are the image recipes' settings, for bench run (which
	// prepares the base image as `mage run` does).
	Recipes *recipes.Settings
	// Verifier checks the base image's signature in bench run, as mage run does.
	Verifier sign.Verifier
	// Out receives the table; nil: os.Stdout.
	Out io.Writer
}

// Result is one comparison: our time and the peer's on the same input.
type Result struct {
	Ours, Peer time.Duration
	// Peer names the peer tool, e.g. "actool build".
	PeerTool string
}

// Benchmark is one peer comparison.
type Benchmark struct {
	// Name is what `mage bench NAME` selects.
	Name string
	// Summary is one line for the list.
	Summary string
	// Tools are the host programs it runs (checked before it starts).
	Tools func(o Options) []host.Tool
	// Run measures; it logs details and returns the headline figures.
	Run func(ctx context.Context, o Options) (Result, error)
}

// List is every benchmark, in the order `mage bench all` runs them.
var List = []Benchmark{
	{Name: "aci", Summary: "pack a ≥150 MB tree: aci.Pack vs actool build", Tools: noTools, Run: Aci},
	{Name: "sign", Summary: "sign 256 MiB: our signer vs gpg --detach-sign", Tools: tools(gpgTool), Run: Sign},
	{Name: "fetch", Summary: "fetch a signed image: ours vs curl | gunzip | sha512sum (and rkt fetch when built)", Tools: fetchTools, Run: Fetch},
	{Name: "run", Summary: "mage run base vs systemd-nspawn --volatile=overlay", Tools: tools(nspawnTool), Run: RunImage},
	{Name: "noop", Summary: "no-op buildStage1 vs mage -l", Tools: noTools, Run: Noop},
	{Name: "kernel", Summary: "kernel rebuild after a fragment change vs a cold build", Tools: kernelTools, Run: Kernel},
	{Name: "rootfs", Summary: "mmdebstrap vs debootstrap", Tools: tools(debootstrapTool, mmdebstrapTool), Run: Rootfs},
}

var (
	curlTool        = host.Tool{Command: "curl", Package: "curl", VersionArgs: []string{"--version"}}
	gpgTool         = host.Tool{Command: "gpg", Package: "gnupg", VersionArgs: []string{"--version"}}
	nspawnTool      = host.Tool{Command: "systemd-nspawn", Package: "systemd-container", VersionArgs: []string{"--version"}}
	ccacheTool      = host.Tool{Command: "ccache", Package: "ccache", VersionArgs: []string{"--version"}}
	debootstrapTool = host.Tool{Command: "debootstrap", Package: "debootstrap", VersionArgs: []string{"--version"}}
	mmdebstrapTool  = host.Tool{Command: "mmdebstrap", Package: "mmdebstrap", VersionArgs: []string{"--version"}}
)

func noTools(Options) []host.Tool { return nil }

func tools(ts ...host.Tool) func(Options) []host.Tool {
	return func(Options) []host.Tool { return ts }
}

func fetchTools(o Options) []host.Tool {
	if o.NoRkt {
		return []host.Tool{curlTool}
	}
	return append([]host.Tool{curlTool}, o.RktTools...)
}

func kernelTools(o Options) []host.Tool {
	return append(append([]host.Tool{}, o.KernelTools...), ccacheTool)
}

// Names lists the benchmark names in List order.
func Names() []string {
	var names []string
	for _, b := range List {
		names = append(names, b.Name)
	}
	return names
}

// Select returns the benchmarks names ("all", "" or a comma-separated
// list) selects, in List order.
func Select(names string) ([]Benchmark, error) {
	if names == "" || names == "all" {
		return List, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		found := false
		for _, b := range List {
			found = found || b.Name == n
		}
		if !found {
			return nil, fmt.Errorf("bench: no benchmark %q: choose all or a comma-separated list of %s", n, strings.Join(Names(), ", "))
		}
		want[n] = true
	}
	var out []Benchmark
	for _, b := range List {
		if want[b.Name] {
			out = append(out, b)
		}
	}
	return out, nil
}

// Row is one line of the table Run prints.
type Row struct {
	Name   string
	Result Result
	// Err is why the benchmark failed; the other fields are then unset.
	Err error
}

// Run runs the selected benchmarks (see Select), each after checking its
// host tools, and prints the table. A failed benchmark does not stop the
// others; Run then returns an error counting the failures.
func Run(ctx context.Context, o Options, names string) error {
	sel, err := Select(names)
	if err != nil {
		return err
	}
	var rows []Row
	for _, b := range sel {
		step.Summaryf(ctx, "== bench %s: %s", b.Name, b.Summary)
		r := Row{Name: b.Name}
		if err := host.Need(ctx, b.Tools(o)...); err != nil {
			r.Err = err
		} else {
			r.Result, r.Err = b.Run(ctx, o)
		}
		if r.Err != nil {
			step.Summaryf(ctx, "bench %s: %v", b.Name, r.Err)
		}
		rows = append(rows, r)
	}
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	if err := WriteTable(out, rows); err != nil {
		return err
	}
	failed := 0
	for _, r := range rows {
		if r.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("bench: %d of %d benchmark(s) failed (see above)", failed, len(rows))
	}
	return nil
}

// WriteTable prints rows: name, our seconds, the peer's, the ratio
// peer/ours (higher is better for us) and the peer tool.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tOURS (s)\tPEER (s)\tRATIO (peer/ours)\tPEER")
	for _, r := range rows {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tFAILED: %s\n", r.Name, firstLine(r.Err.Error()))
			continue
		}
		ours, peer := r.Result.Ours.Seconds(), r.Result.Peer.Seconds()
		ratio := "-"
		if ours > 0 {
			ratio = fmt.Sprintf("%.2f", peer/ours)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%s\t%s\n", r.Name, ours, peer, ratio, r.Result.PeerTool)
	}
	return tw.Flush()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// runs is o.Runs, or def when unset.
func (o Options) runs(def int) int {
	if o.Runs > 0 {
		return o.Runs
	}
	return def
}

// dir is the benchmark's scratch directory, absolute.
func (o Options) dir(name string) (string, error) {
	return filepath.Abs(filepath.Join(o.BuildDir, "bench", name))
}

// median returns the median of the times fn takes over n runs.
func median(n int, fn func() error) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	return medianOf(ds), nil
}

func medianOf(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// timeCommand runs the command n times and returns the median wall time.
func timeCommand(ctx context.Context, n int, name string, args ...string) (time.Duration, error) {
	return median(n, func() error {
		out, err := step.Output(ctx, name, args...)
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	})
}

// cpuSeconds is the user+system CPU time of who (RUSAGE_SELF or
// RUSAGE_CHILDREN) so far.
func cpuSeconds(who int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
