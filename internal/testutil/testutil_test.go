package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestTail(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
		{"one\n\n", 1, "one"},
	} {
		if got := Tail(tt.in, tt.n); got != tt.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	if got := string(TailBytes([]byte("abcdef"), 3)); got != "def" {
		t.Errorf("TailBytes = %q, want def", got)
	}
	if got := string(TailBytes([]byte("ab"), 3)); got != "ab" {
		t.Errorf("TailBytes = %q, want ab", got)
	}
}

func TestSyncBufferConcurrentWriters(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				fmt.Fprint(&b, "x")
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes, want 800", n)
	}
	if n := len(b.Take()); n != 800 || b.String() != "" {
		t.Fatalf("Take returned %d bytes and left %q", n, b.String())
	}
}

// TestGolden runs Golden in a sub-test-like recorder: a matching file
// passes, a different one fails, UPDATE_GOLDEN=1 rewrites it.
func TestGolden(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "x.golden")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		got      string
		update   bool
		wantFail bool
		wantFile string
	}{
		{"same", "old\n", false, false, "old\n"},
		{"differs", "new\n", false, true, "old\n"},
		{"update", "new\n", true, false, "new\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.update {
				t.Setenv("UPDATE_GOLDEN", "1")
			}
			rec := &recorder{TB: t}
			Golden(rec, p, []byte(tt.got))
			if rec.failed != tt.wantFail {
				t.Errorf("failed = %v, want %v", rec.failed, tt.wantFail)
			}
			if b, _ := os.ReadFile(p); string(b) != tt.wantFile {
				t.Errorf("file holds %q, want %q", b, tt.wantFile)
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Helper()               {}
