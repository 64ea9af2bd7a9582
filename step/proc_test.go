package step

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"
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

// A file edited in place inside a directory output goes unnoticed by the
// identity check (documented), and is caught with VERIFY_OUTPUTS=1.
func TestDirectoryOutputVerifiedByContent(t *testing.T) {
	ctx, dir := useDir(t)
	tree := filepath.Join(dir, "tree")
	runs := 0
	s := Step{Name: "tree", Outputs: []string{tree}, Run: func(context.Context) error {
		runs++
		return fsutil.ReplaceDir(tree, func(tmp string) error {
			return os.WriteFile(filepath.Join(tmp, "f.txt"), []byte("built"), 0o644)
		})
	}}
	if _, err := Do(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Edit in place, keeping the top directory's identity.
	if err := os.WriteFile(filepath.Join(tree, "f.txt"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Do(ctx, s); err != nil || r.Ran {
		t.Fatalf("identity check: %+v %v (documented: in-place edits need VERIFY_OUTPUTS=1)", r, err)
	}
	verify := NewSession(SessionFrom(ctx).StampDir, 1)
	verify.VerifyOutputs = true
	r, err := Do(WithSession(ctx, verify), s)
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
