package targets

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rktbuild/rktbuild/step"
)

// Doctor lists the host tools each target needs and how to install them.
//
// It lists the host tools each target needs, whether each is installed
// (with its version), and the exact command that installs the missing ones.
// It changes nothing; `mage setup` installs them.
func Doctor(ctx context.Context) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tTOOL\tSTATUS\tVERSION / INSTALL")
	var missing []step.Tool
	seen := map[string]bool{}
	for _, r := range table {
		for i, t := range r.tools {
			name := r.name
			if i > 0 {
				name = ""
			}
			ok, version := t.Present(ctx)
			status := "ok"
			if !ok {
				status = "MISSING"
				version = "apt-get install " + t.Package
				if !seen[t.Command] {
					seen[t.Command] = true
					missing = append(missing, t)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, t.Command, status, version)
		}
	}
	tw.Flush()
	if len(missing) == 0 {
		fmt.Println("\nall host tools are installed")
		return nil
	}
	fmt.Printf("\n%d tool(s) missing; install them with:\n  sudo %s\nor run: sudo go run mage.go setup\n", len(missing), step.InstallCommand(missing))
	return nil
}

// Setup installs every missing host tool (root, Debian/Ubuntu).
//
// It installs, as root on Debian/Ubuntu, every host tool any target needs
// (see `mage doctor`). It runs apt-get update first.
func Setup(ctx context.Context) error {
	var all []step.Tool
	for _, r := range table {
		all = append(all, r.tools...)
	}
	miss := step.Missing(ctx, all...)
	if len(miss) == 0 {
		step.Summaryf("setup: all host tools are installed")
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("setup needs root to install packages: run `sudo go run mage.go setup`, or `sudo %s`", step.InstallCommand(miss))
	}
	return step.Need(ctx, miss...)
}

// Test runs the fast suite, the fuzz targets, then e2e when root.
//
// It runs the test suite: `go test ./...` (the fast suite), the fuzz
// targets for a bounded time each (see Fuzz), then, when
// running as root, `mage e2e` (debootstrap, kernel build and qemu boot,
// static nspawn build). It is the README's test command and what CI runs.
// Without root the end-to-end part is skipped with a message, except under
// CI=true, where that is an error.
func Test(ctx context.Context) error {
	step.Summaryf("== fast suite: go test ./...")
	if err := (step.Cmd{Live: true}).Run(ctx, "go", "test", "-count=1", "./..."); err != nil {
		return fmt.Errorf("fast suite failed: %w", err)
	}
	if err := Fuzz(ctx); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("the end-to-end suite needs root and CI=true is set: run CI as root")
		}
		step.Summaryf("== end-to-end suite skipped: it needs root (debootstrap, systemd-nspawn, chroot); run `sudo go run mage.go test`")
		return nil
	}
	return E2e(ctx)
}

// E2e runs the long end-to-end suite as root.
//
// It runs the long end-to-end suite (`go test -tags e2e ./e2e/`) as root:
// it installs missing host tools first, then builds real rootfs trees,
// kernels, stage1 images and a static systemd-nspawn, and boots the kernel
// under qemu. E2E_RUN=regexp selects tests.
func E2e(ctx context.Context) error {
	if err := Setup(ctx); err != nil {
		return err
	}
	step.Summaryf("== end-to-end suite: go test -tags e2e ./e2e/")
	args := []string{"test", "-tags", "e2e", "-count=1", "-timeout", "80m", "-v"}
	if r := os.Getenv("E2E_RUN"); r != "" {
		args = append(args, "-run", r)
	}
	args = append(args, "./e2e/")
	return (step.Cmd{Live: true}).Run(ctx, "go", args...)
}

// All runs every benchmark and prints one table against the peer tools.
//
// It runs every benchmark (`mage bench:<name>`) and prints one table:
// name, our time, the peer tool's time on the same input, and the ratio
// (peer/ours, higher is better for us).
func (Bench) All(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	names := benchNames()
	type row struct{ name, ours, peer, ratio, peerTool, err string }
	var rows []row
	for _, n := range names {
		step.Summaryf("== bench:%s", n)
		var out bytes.Buffer
		c := step.Command(ctx, self, "bench:"+n)
		c.Stdout = &out
		c.Stderr = os.Stderr
		runErr := c.Run()
		os.Stdout.Write(out.Bytes())
		r := row{name: n}
		found := false
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			if b, ok := parseBenchLine(sc.Text()); ok {
				r.ours, r.peer, r.ratio, r.peerTool = b["ours"], b["peer"], b["ratio"], b["tool"]
				found = true
			}
		}
		if runErr != nil {
			r.err = runErr.Error()
		} else if !found {
			r.err = "printed no BENCH line"
		}
		rows = append(rows, r)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nBENCHMARK\tOURS (s)\tPEER (s)\tRATIO (peer/ours)\tPEER TOOL")
	failed := 0
	for _, r := range rows {
		if r.err != "" {
			failed++
			fmt.Fprintf(tw, "%s\t-\t-\t-\tFAILED: %s\n", r.name, r.err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.ours, r.peer, r.ratio, r.peerTool)
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("%d benchmark(s) failed", failed)
	}
	return nil
}

// benchNames lists the Bench namespace's benchmarks (every method but All).
func benchNames() []string {
	var names []string
	for n := range benchmarks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// benchmarks is filled by registerBench in each area's init.
var benchmarks = map[string]bool{}

// registerBench lists `mage bench:<name>` in `mage bench`.
func registerBench(name string) { benchmarks[name] = true }

// parseBenchLine reads `BENCH name ours=1.2 peer=3.4 ratio=2.8 (tool)`.
func parseBenchLine(line string) (map[string]string, bool) {
	if !strings.HasPrefix(line, "BENCH ") {
		return nil, false
	}
	m := map[string]string{}
	if i := strings.Index(line, "("); i > 0 && strings.HasSuffix(line, ")") {
		m["tool"] = line[i+1 : len(line)-1]
		line = line[:i]
	}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m, m["ours"] != "" && m["peer"] != ""
}

// printBench prints the line `mage bench` tabulates.
func printBench(name string, ours, peer time.Duration, tool string) {
	fmt.Printf("BENCH %s ours=%.3f peer=%.3f ratio=%.2f (%s)\n", name, ours.Seconds(), peer.Seconds(), peer.Seconds()/ours.Seconds(), tool)
}

// timeRuns runs cmd n times and returns the median wall time.
func timeRuns(ctx context.Context, n int, name string, args ...string) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		c := step.Command(ctx, name, args...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		start := time.Now()
		if err := c.Run(); err != nil {
			return 0, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

func init() { registerBench("noop") }

// Noop measures a no-op buildStage1 against `mage -l`.
//
// It measures a no-op `buildStage1` (everything up to date) against
// `mage -l` on the same checkout (mage's own start-up), median of 9 runs of
// the compiled magefile each. It builds the stage1 image first if needed.
// Goal: the build graph check adds under 20%.
func (Bench) Noop(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Make sure everything is built; this may take minutes the first time.
	c := step.Command(ctx, self, "buildStage1")
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("bench:noop needs a successful buildStage1 first: %w", err)
	}
	n := 9
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		n = v
	}
	ours, err := timeRuns(ctx, n, self, "buildStage1")
	if err != nil {
		return err
	}
	peer, err := timeRuns(ctx, n, self, "-l")
	if err != nil {
		return err
	}
	fmt.Printf("no-op buildStage1: %s, mage -l: %s, overhead %.0f%%\n", ours, peer, (ours.Seconds()/peer.Seconds()-1)*100)
	printBench("noop", ours, peer, "mage -l")
	return nil
}
