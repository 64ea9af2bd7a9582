package fsutil

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

// The helper process for TestSweepStale*: it creates a locked temporary
// (file or directory), reports it and waits to be killed.
func TestHelperHoldTemp(t *testing.T) {
	dir := os.Getenv("RKTBUILD_HOLD_TEMP_DIR")
	if dir == "" {
		t.Skip("helper process for TestSweepStale (runs only when re-executed by it)")
	}
	var name string
	if os.Getenv("RKTBUILD_HOLD_TEMP_KIND") == "dir" {
		lt, err := MkdirTempLocked(dir, tempPattern("tree"))
		if err != nil {
			t.Fatal(err)
		}
		name = lt.Path
	} else {
		f, err := CreateTempLocked(dir, tempPattern("out.aci"))
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
				lt, err := MkdirTempLocked(dir, tempPattern(base))
				if err != nil {
					t.Fatal(err)
				}
				defer lt.Release()
				mine = lt.Path
			} else {
				f, err := CreateTempLocked(dir, tempPattern(base))
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
	if err := WriteFileBytes(filepath.Join(dir, "out.aci"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(deadPath); !os.IsNotExist(err) {
		t.Errorf("stale %s survived the next write: %v", deadPath, err)
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
	w := &testutil.CancelAfter{W: &countWriter{}, N: 1 << 20, Cancel: cancel}
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

func TestWriteFileAtomicOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	testutil.WriteFile(t, p, "old")
	err := WriteFile(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return errors.New("disk on fire")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if data, _ := os.ReadFile(p); string(data) != "old" {
		t.Errorf("file = %q, want the old content", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
}

func TestReplaceDir(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "tree")
	testutil.WriteFile(t, filepath.Join(final, "old.txt"), "old")
	if err := ReplaceDir(final, func(tmp string) error {
		testutil.WriteFile(t, filepath.Join(tmp, "x"), "1")
		return errors.New("stop")
	}); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(filepath.Join(final, "old.txt")); err != nil {
		t.Errorf("old tree damaged by a failed replace: %v", err)
	}
	if err := ReplaceDir(final, func(tmp string) error {
		testutil.WriteFile(t, filepath.Join(tmp, "new.txt"), "new")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(final, "old.txt")); !os.IsNotExist(err) {
		t.Errorf("old content survived replace")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("leftovers: %v", entries)
	}
}
