package store

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper process for TestGcRemovesDeadFetchesAtOnce: a fetch that
// opened its download and waits (to be killed, or to run on).
func TestHelperFetchDownload(t *testing.T) {
	dir := os.Getenv("RKTBUILD_STORE_HELPER")
	if dir == "" {
		t.Skip("helper process for TestGcRemovesDeadFetchesAtOnce (runs only when re-executed by it)")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.TempFile()
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial download")
	os.Stdout.WriteString(f.Name() + "\n")
	time.Sleep(time.Hour)
}

func startFetchHelper(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFetchDownload$")
	cmd.Env = append(os.Environ(), "RKTBUILD_STORE_HELPER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// store:gc (Gc with the target's one-hour age) removes a fresh download
// whose fetch was killed, keeps one whose fetch still runs, and the next
// fetch sweeps dead downloads too.
func TestGcRemovesDeadFetchesAtOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, live := startFetchHelper(t, dir)
	dead, deadPath := startFetchHelper(t, dir)
	dead.Process.Signal(syscall.SIGKILL)
	dead.Wait()
	removed, err := s.Gc(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, deadPath) {
		t.Errorf("Gc removed %v, not the killed fetch's %s", removed, deadPath)
	}
	if slices.Contains(removed, live) {
		t.Errorf("Gc removed %s of a fetch still running", live)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live download: %v", err)
	}
	// The next fetch's TempFile sweeps what a dead fetch left.
	dead2, dead2Path := startFetchHelper(t, dir)
	dead2.Process.Signal(syscall.SIGKILL)
	dead2.Wait()
	f, err := s.TempFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Stat(dead2Path); !os.IsNotExist(err) {
		t.Errorf("TempFile left the dead fetch's %s: %v", dead2Path, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
	if len(left) != 2 {
		t.Errorf("tmp/ holds %v, want the live helper's and ours", left)
	}
}
