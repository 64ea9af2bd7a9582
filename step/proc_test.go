package step

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readPid waits for a command to write its pid into file.
func readPid(t *testing.T, file string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(file)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file %s: %v", file, err)
			}
			return pid
		}
	}
	t.Fatalf("no pid written to %s", file)
	return 0
}

// alive reports whether pid runs (a zombie awaiting its reaper is dead).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// waitDead polls until pid is gone or the deadline passes.
func waitDead(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return true
		}
	}
	return !alive(pid)
}

// A grandchild that ignores SIGTERM outlives its leader's death; only
// killing the whole process group (SIGTERM, then SIGKILL after the grace
// period) ends it. With a plain Process.Kill, or without Setpgid, the
// grandchild survives and this test fails.
func TestCancelKillsProcessGroupGrandchild(t *testing.T) {
	old := killGrace
	killGrace = 300 * time.Millisecond
	defer func() { killGrace = old }()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild")
	script := `(trap '' TERM; echo $(exec sh -c 'echo $PPID') > ` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile + `; exec sleep 300) & wait`
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, "sh", "-c", script) }()
	pid := readPid(t, pidFile)
	if !alive(pid) {
		t.Fatalf("grandchild %d not running before the cancel", pid)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want a cancellation", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after the cancel")
	}
	if !waitDead(pid, 5*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("grandchild %d outlived the cancelled command", pid)
	}
}

// The helper process for TestSweepStale*: it creates a locked temporary
// (file or directory), reports it and waits to be killed.
func TestHelperHoldTemp(t *testing.T) {
	dir := os.Getenv("RKTBUILD_HOLD_TEMP_DIR")
	if dir == "" {
		t.Skip("helper process for TestSweepStale (runs only when re-executed by it)")
	}
	var name string
	if os.Getenv("RKTBUILD_HOLD_TEMP_KIND") == "dir" {
		lt, err := MkdirTempLocked(dir, TempPattern("tree"))
		if err != nil {
			t.Fatal(err)
		}
		name = lt.Path
	} else {
		f, err := CreateTempLocked(dir, TempPattern("out.aci"))
		if err != nil {
			t.Fatal(err)
		}
		name = f.Name()
	}
	os.Stdout.WriteString(name + "\n")
	time.Sleep(time.Hour)
}

// holdTemp starts a real process that creates and locks a temporary.
func holdTemp(t *testing.T, dir, kind string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldTemp$")
	cmd.Env = append(os.Environ(), "RKTBUILD_HOLD_TEMP_DIR="+dir, "RKTBUILD_HOLD_TEMP_KIND="+kind)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 4096)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	line := strings.SplitN(string(buf[:n]), "\n", 2)[0]
	if !strings.HasPrefix(line, dir) {
		t.Fatalf("helper printed %q", line)
	}
	return cmd, line
}

func TestSweepStale(t *testing.T) {
	for _, kind := range []string{"file", "dir"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			base := "out.aci"
			if kind == "dir" {
				base = "tree"
			}
			pattern := "." + base + ".tmp-*"
			live, livePath := holdTemp(t, dir, kind)
			dead, deadPath := holdTemp(t, dir, kind)
			if err := dead.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			dead.Wait()
			// A temporary of this process, still being written.
			var mine string
			if kind == "dir" {
				lt, err := MkdirTempLocked(dir, TempPattern(base))
				if err != nil {
					t.Fatal(err)
				}
				defer lt.Release()
				mine = lt.Path
			} else {
				f, err := CreateTempLocked(dir, TempPattern(base))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				mine = f.Name()
			}
			removed, err := SweepStale(dir, pattern)
			if err != nil {
				t.Fatal(err)
			}
			if len(removed) != 1 || removed[0] != deadPath {
				t.Errorf("removed %v, want only the dead run's %s", removed, deadPath)
			}
			for _, p := range []string{livePath, mine} {
				if _, err := os.Lstat(p); err != nil {
					t.Errorf("live temporary %s was removed: %v", p, err)
				}
			}
			if _, err := os.Lstat(deadPath); !os.IsNotExist(err) {
				t.Errorf("stale %s still there: %v", deadPath, err)
			}
			_ = live
		})
	}
}

// WriteFile and ReplaceDir clean up what dead runs left for the same
// output, so an interrupted run followed by a good one leaves no debris.
func TestWriteFileSweepsDeadRuns(t *testing.T) {
	dir := t.TempDir()
	dead, deadPath := holdTemp(t, dir, "file")
	dead.Process.Signal(syscall.SIGKILL)
	dead.Wait()
	var out bytes.Buffer
	old := Out
	Out = &out
	defer func() { Out = old }()
	if err := WriteFileBytes(filepath.Join(dir, "out.aci"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(deadPath); !os.IsNotExist(err) {
		t.Errorf("stale %s survived the next write: %v", deadPath, err)
	}
	if !strings.Contains(out.String(), "left by an interrupted run") {
		t.Errorf("sweep not reported: %q", out.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only out.aci", len(ents))
	}
}

// CtxReader stops a copy in the chunk after the cancel, not at its end.
func TestCtxReaderStopsMidCopy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := CtxReader(ctx, zeroReader{})
	w := &cancelAfter{w: &countWriter{}, n: 1 << 20, cancel: cancel}
	buf := make([]byte, 32<<10)
	n, err := copyBufferN(w, src, buf, 1<<40)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copy ended with %v after %d bytes, want a cancellation", err, n)
	}
	if n > 1<<20+int64(len(buf)) {
		t.Errorf("copied %d bytes after the cancel at 1 MiB", n)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func copyBufferN(w interface{ Write([]byte) (int, error) }, r interface{ Read([]byte) (int, error) }, buf []byte, limit int64) (int64, error) {
	var n int64
	for n < limit {
		k, err := r.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// A file edited in place inside a directory output goes unnoticed by the
// identity check (documented), and is caught with VERIFY_OUTPUTS=1.
func TestDirectoryOutputVerifiedByContent(t *testing.T) {
	dir := useDir(t)
	tree := filepath.Join(dir, "tree")
	runs := 0
	s := Step{Name: "tree", Outputs: []string{tree}, Run: func(context.Context) error {
		runs++
		return ReplaceDir(tree, func(tmp string) error {
			return os.WriteFile(filepath.Join(tmp, "f.txt"), []byte("built"), 0o644)
		})
	}}
	if _, err := Do(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	// Edit in place, keeping the top directory's identity.
	if err := os.WriteFile(filepath.Join(tree, "f.txt"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Do(context.Background(), s); err != nil || r.Ran {
		t.Fatalf("identity check: %+v %v (documented: in-place edits need VERIFY_OUTPUTS=1)", r, err)
	}
	t.Setenv("VERIFY_OUTPUTS", "1")
	r, err := Do(context.Background(), s)
	if err != nil || !r.Ran || !strings.Contains(r.Reason, "changed since the last run") {
		t.Fatalf("VERIFY_OUTPUTS=1: %+v %v, want a rerun because the output changed", r, err)
	}
	if b, _ := os.ReadFile(filepath.Join(tree, "f.txt")); string(b) != "built" || runs != 2 {
		t.Errorf("after the rerun f.txt = %q, runs = %d", b, runs)
	}
}

var bumped = time.Unix(1700000000, 0)

// bumpTimes sets the mtime of every file under paths to a time no earlier
// call used.
func bumpTimes(t *testing.T, paths ...string) {
	t.Helper()
	bumped = bumped.Add(time.Hour)
	for _, root := range paths {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				if err := os.Chtimes(p, bumped, bumped); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
	}
}
