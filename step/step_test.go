package step

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/internal/testutil"
)

// useDir returns a context carrying a fresh session whose stamps live in
// a fresh directory, and that directory.
func useDir(t *testing.T) (context.Context, string) {
	t.Helper()
	dir := t.TempDir()
	s := NewSession(filepath.Join(dir, ".stamps"), 2)
	s.Out = &bytes.Buffer{}
	return WithSession(context.Background(), s), dir
}

// output returns what was printed in the session of ctx (made by useDir).
func output(ctx context.Context) string {
	return SessionFrom(ctx).Out.(*bytes.Buffer).String()
}

// planning returns a context carrying a planning (dry-run) session that
// shares the stamps of the session in ctx.
func planning(ctx context.Context) context.Context {
	p := NewSession(SessionFrom(ctx).StampDir, 1)
	p.DryRun, p.Out = true, &bytes.Buffer{}
	return WithSession(context.Background(), p)
}

func TestDoUpToDate(t *testing.T) {
	type change func(t *testing.T, in, out string, values map[string]string)
	tests := []struct {
		name     string
		change   change
		wantRun  bool
		wantWhy  string
		wantRuns int
	}{
		{"unchanged", func(*testing.T, string, string, map[string]string) {}, false, "up to date", 1},
		{"changed input file", func(t *testing.T, in, _ string, _ map[string]string) {
			testutil.WriteFile(t, filepath.Join(in, "a.txt"), "two")
		}, true, "file " + "IN" + " changed", 2},
		{"new file in input dir", func(t *testing.T, in, _ string, _ map[string]string) {
			testutil.WriteFile(t, filepath.Join(in, "sub", "b.txt"), "new")
		}, true, "changed", 2},
		{"deleted output", func(t *testing.T, _, out string, _ map[string]string) {
			os.Remove(out)
		}, true, "missing", 2},
		{"modified output", func(t *testing.T, _, out string, _ map[string]string) {
			testutil.WriteFile(t, out, "tampered")
		}, true, "changed since the last run", 2},
		{"changed config value", func(_ *testing.T, _, _ string, v map[string]string) {
			v["S1B_KERNEL_VERSION_SUFFIX"] = "-other"
		}, true, "value S1B_KERNEL_VERSION_SUFFIX changed", 2},
		{"added config value", func(_ *testing.T, _, _ string, v map[string]string) {
			v["S1B_JOBS"] = "4"
		}, true, "new input value S1B_JOBS", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, dir := useDir(t)
			in := filepath.Join(dir, "in")
			out := filepath.Join(dir, "out.txt")
			testutil.WriteFile(t, filepath.Join(in, "a.txt"), "one")
			values := map[string]string{"S1B_KERNEL_VERSION_SUFFIX": "-rktbuild-v1"}
			runs := 0
			mk := func() Step {
				v := map[string]string{}
				for k, x := range values {
					v[k] = x
				}
				return Step{
					Name:    "test:copy",
					Inputs:  Inputs{Files: []string{in}, Values: v},
					Outputs: []string{out},
					Run: func(ctx context.Context) error {
						runs++
						data, err := os.ReadFile(filepath.Join(in, "a.txt"))
						if err != nil {
							return err
						}
						return fsutil.WriteFileBytes(out, data, 0o644)
					},
				}
			}
			if r, err := Do(ctx, mk()); err != nil || !r.Ran || r.Reason != "no record of a previous run" {
				t.Fatalf("first run: %+v, %v", r, err)
			}
			tt.change(t, in, out, values)
			// Give every file a new mtime, so a change is visible to the
			// stat-keyed cache even on coarse clocks (no sleep); unchanged
			// content must still count as unchanged.
			bumpTimes(t, in, out)
			r, err := Do(ctx, mk())
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.wantWhy, "IN", in)
			if r.Ran != tt.wantRun || !strings.Contains(r.Reason, want) {
				t.Errorf("second run: ran=%v reason=%q; want ran=%v reason containing %q", r.Ran, r.Reason, tt.wantRun, want)
			}
			if runs != tt.wantRuns {
				t.Errorf("Run called %d times, want %d", runs, tt.wantRuns)
			}
			// A third run after a rerun is always up to date.
			if r, _ := Do(ctx, mk()); r.Ran {
				t.Errorf("third run ran again: %s", r.Reason)
			}
		})
	}
}

func TestDoFailureLeavesNoStamp(t *testing.T) {
	ctx, dir := useDir(t)
	out := filepath.Join(dir, "out")
	fail := true
	s := Step{Name: "flaky", Outputs: []string{out}, Run: func(context.Context) error {
		if fail {
			return errors.New("boom")
		}
		return fsutil.WriteFileBytes(out, []byte("ok"), 0o644)
	}}
	if _, err := Do(ctx, s); err == nil || err.Error() != "boom" {
		t.Fatalf("want boom, got %v", err)
	}
	fail = false
	if r, err := Do(ctx, s); err != nil || !r.Ran {
		t.Fatalf("rerun after failure: %+v %v", r, err)
	}
}

func TestDryRunDoesNotRun(t *testing.T) {
	base, _ := useDir(t)
	ctx := planning(base)
	ran := false
	r, err := Do(ctx, Step{Name: "plan:me", Run: func(context.Context) error { ran = true; return nil }})
	if err != nil || ran || r.Ran {
		t.Fatalf("dry run ran the step: %+v %v", r, err)
	}
	if !strings.Contains(output(ctx), "would run plan:me: no record of a previous run") {
		t.Errorf("dry run output = %q", output(ctx))
	}
}

// TestCancelMidway interrupts a step while its command is writing the
// output and checks that nothing is left under the final name, no temp file
// or process survives, and a second run completes.
func TestCancelMidway(t *testing.T) {
	base, dir := useDir(t)
	out := filepath.Join(dir, "result.bin")
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The command writes 4096 bytes, then blocks; the test cancels when
	// those bytes have arrived (no timer), so the cancel is mid-write.
	script := "echo $$ > " + pidFile + "; head -c 4096 /dev/zero; exec sleep 60"
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	mk := func(script string, w func(io.Writer) io.Writer) Step {
		return Step{Name: "slow", Outputs: []string{out}, Run: func(ctx context.Context) error {
			return fsutil.WriteFile(out, 0o644, func(f io.Writer) error {
				return Cmd{Stdout: w(f)}.Run(ctx, "bash", "-c", script)
			})
		}}
	}
	start := time.Now()
	_, err := Do(ctx, mk(script, func(f io.Writer) io.Writer { return &testutil.CancelAfter{W: f, N: 4096, Cancel: cancel} }))
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancellation error, got %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("cancellation took %s", el)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists after cancellation: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
	pid := readPid(t, pidFile)
	if alive(pid) {
		t.Errorf("child process %d survived cancellation", pid)
	}
	r, err := Do(base, mk("printf done", func(f io.Writer) io.Writer { return f }))
	if err != nil || !r.Ran {
		t.Fatalf("re-run: %+v %v", r, err)
	}
	if data, _ := os.ReadFile(out); string(data) != "done" {
		t.Errorf("re-run output = %q", data)
	}
}

func TestCommandErrorNamesStepAndTail(t *testing.T) {
	ctx := WithName(context.Background(), "kernel:build")
	err := Run(ctx, "sh", "-c", "for i in 1 2 3; do echo line$i; done; echo oops >&2; exit 3")
	var ce *CmdError
	if !errors.As(err, &ce) {
		t.Fatalf("want *CmdError, got %T %v", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"step kernel:build", `command "sh -c`, "exit status 3", "line3", "oops"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if ce.ExitCode() != 3 {
		t.Errorf("exit code %d", ce.ExitCode())
	}
}

func TestMissingCommandSaysHowToFix(t *testing.T) {
	err := Run(context.Background(), "rktbuild-no-such-tool")
	if err == nil || !strings.Contains(err.Error(), "mage doctor") {
		t.Fatalf("got %v", err)
	}
}

func TestOutputPrefixedByStep(t *testing.T) {
	ctx, _ := useDir(t)
	SessionFrom(ctx).Verbose = true
	err := Parallel(ctx,
		func(ctx context.Context) error {
			return Run(WithName(ctx, "a"), "sh", "-c", "echo one; echo two")
		},
		func(ctx context.Context) error {
			return Run(WithName(ctx, "b"), "sh", "-c", "printf 'three\\nfour'")
		})
	if err != nil {
		t.Fatal(err)
	}
	got := output(ctx)
	for _, want := range []string{"[a] one\n", "[a] two\n", "[b] three\n", "[b] four\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestQuietModeHidesOutput(t *testing.T) {
	ctx, _ := useDir(t)
	SessionFrom(ctx).Verbose = false
	if err := Run(ctx, "echo", "noise"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(output(ctx), "noise") {
		t.Errorf("quiet mode printed command output: %q", output(ctx))
	}
}

// TestDepsFailureCancelsSiblings runs two mage dependencies: one fails
// quickly, the other runs a long command that must be killed.
func TestDepsFailureCancelsSiblings(t *testing.T) {
	ctx, _ := useDir(t)
	siblingErr := make(chan error, 1)
	siblingStarted := make(chan struct{})
	failing := func(ctx context.Context) error {
		<-siblingStarted // fail while the sibling runs, without a timer
		return errors.New("kernel build broke")
	}
	sibling := func(ctx context.Context) error {
		close(siblingStarted)
		err := Run(ctx, "sleep", "60")
		siblingErr <- err
		return err
	}
	start := time.Now()
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		Deps(ctx, failing, sibling)
	}()
	if panicked == nil || !strings.Contains(fmt.Sprint(panicked), "kernel build broke") {
		t.Fatalf("Deps did not report the failure: %v", panicked)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("sibling was not cancelled: Deps took %s", el)
	}
	err := <-siblingErr
	if err == nil || !strings.Contains(err.Error(), "cancelled because") {
		t.Errorf("sibling error %v does not say why it was cancelled", err)
	}
}

func TestJobsBudget(t *testing.T) {
	base := WithSession(context.Background(), NewSession(t.TempDir(), 2))
	rel, err := AcquireJobs(base, 5) // capped at the budget
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(base, 100*time.Millisecond)
	defer cancel()
	if _, err := AcquireJobs(ctx, 1); err == nil {
		t.Fatal("acquired a slot beyond the budget")
	}
	rel()
	rel2, err := AcquireJobs(base, 1)
	if err != nil {
		t.Fatal(err)
	}
	rel2()
}

// TestHashCacheReusesUnchangedFiles checks HashFile, which packages use
// for large inputs hashed on every run (the kernel tarball, the go binary).
func TestHashCacheReusesUnchangedFiles(t *testing.T) {
	ctx, dir := useDir(t)
	ses := SessionFrom(ctx)
	hc := &ses.hc
	p := filepath.Join(dir, "big")
	testutil.WriteFile(t, p, strings.Repeat("x", 1<<16))
	h1, err := HashFile(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// Poison the cached entry: an unchanged file must be answered from the
	// cache (no read), a changed one must be re-read.
	abs, _ := filepath.Abs(p)
	hc.Lock()
	e := hc.m[abs]
	e.Hash = "cached"
	hc.m[abs] = e
	hc.Unlock()
	if h, _ := HashFile(ctx, p); h != "cached" {
		t.Errorf("unchanged file was re-hashed")
	}
	testutil.WriteFile(t, p, strings.Repeat("y", 1<<16))
	bumpTimes(t, p) // a visibly new mtime even on coarse clocks, without a sleep
	if h, _ := HashFile(ctx, p); h == "cached" || h == h1 {
		t.Errorf("changed file not re-hashed: %s", h)
	}
}

// TestDirectoryOutputCheckedByIdentity: a directory output is recorded
// once; an untouched tree is answered without walking it (its files do
// not enter the per-file cache), and a tree replaced as a whole reruns.
func TestDirectoryOutputCheckedByIdentity(t *testing.T) {
	ctx, dir := useDir(t)
	hc := &SessionFrom(ctx).hc
	tree := filepath.Join(dir, "tree")
	mk := func(content string) Step {
		return Step{Name: "tree", Outputs: []string{tree}, Run: func(context.Context) error {
			return fsutil.ReplaceDir(tree, func(tmp string) error {
				testutil.WriteFile(t, filepath.Join(tmp, "a", "b.txt"), content)
				return nil
			})
		}}
	}
	if r, err := Do(ctx, mk("one")); err != nil || !r.Ran {
		t.Fatalf("first run: %+v %v", r, err)
	}
	if r, _ := Do(ctx, mk("one")); r.Ran {
		t.Errorf("untouched tree reran: %s", r.Reason)
	}
	hc.Lock()
	for p := range hc.m {
		if strings.HasPrefix(p, tree) {
			t.Errorf("walk of an output tree cached file %s", p)
		}
	}
	hc.Unlock()
	// Someone else replaces the tree: new inode, so the step reruns.
	if err := fsutil.ReplaceDir(tree, func(tmp string) error {
		testutil.WriteFile(t, filepath.Join(tmp, "a", "b.txt"), "other")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r, _ := Do(ctx, mk("one")); !r.Ran || !strings.Contains(r.Reason, "changed since the last run") {
		t.Errorf("replaced tree: ran=%v reason=%q", r.Ran, r.Reason)
	}
	os.RemoveAll(tree)
	if r, _ := Do(ctx, mk("one")); !r.Ran || !strings.Contains(r.Reason, "missing") {
		t.Errorf("deleted tree: ran=%v reason=%q", r.Ran, r.Reason)
	}
}

// TestDryRunPropagates: in a dry run, a step whose input another planned
// step would rebuild is reported as running too, naming that step.
func TestDryRunPropagates(t *testing.T) {
	ctx, dir := useDir(t)
	cfg := filepath.Join(dir, "config")
	img := filepath.Join(dir, "image")
	value := "a"
	first := func() Step {
		return Step{Name: "config", Inputs: Inputs{Values: map[string]string{"v": value}}, Outputs: []string{cfg},
			Run: func(context.Context) error { return fsutil.WriteFileBytes(cfg, []byte(value), 0o644) }}
	}
	second := Step{Name: "build", Inputs: Inputs{Files: []string{cfg}}, Outputs: []string{img},
		Run: func(context.Context) error { return fsutil.WriteFileBytes(img, []byte("built"), 0o644) }}
	for _, s := range []Step{first(), second} {
		if _, err := Do(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	plan := planning(ctx)
	value = "b"
	Do(plan, first())
	r, _ := Do(plan, second)
	if !strings.Contains(r.Reason, "would be rebuilt by config") {
		t.Errorf("dependent step: %+v\n%s", r, output(plan))
	}
	if data, _ := os.ReadFile(cfg); string(data) != "a" {
		t.Errorf("dry run wrote %s", cfg)
	}
}
