// Package testutil holds the helpers the repository's tests share: golden
// files (compare, or rewrite with `go test -update` / UPDATE_GOLDEN=1),
// the tail of a long output for failure messages, a buffer that
// concurrent writers may share, and generated payload for benchmarks.
//
// It is imported by _test.go files only.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// update is the -update flag every package that uses Golden gets.
var update = flag.Bool("update", false, "rewrite golden files (also UPDATE_GOLDEN=1)")

// Updating reports whether golden files are being rewritten: the -update
// flag or UPDATE_GOLDEN=1.
func Updating() bool {
	return *update || os.Getenv("UPDATE_GOLDEN") == "1"
}

// Golden compares got with the golden file at path, after rewriting the
// file with got when Updating. A missing or different file fails the test
// with got and the command that accepts it.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (review, then go test -update accepts it):\n%s", path, got)
	}
}

// WritePayload writes sizeMB files of 1 MiB-ish into dir (created): the
// even ones random, the odd ones base64 text, so the tree compresses like
// a mixed rootfs. Benchmarks use it as image content.
func WritePayload(t testing.TB, dir string, sizeMB int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < sizeMB; i++ {
		rand.Read(chunk)
		data := chunk
		if i%2 == 1 {
			data = []byte(base64.StdEncoding.EncodeToString(chunk[:3<<18]))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob-%03d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Tail returns the last n lines of s (without a trailing newline), for
// failure messages that quote a long output.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TailBytes returns the last n bytes of b.
func TailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// SyncBuffer is a bytes.Buffer that concurrent goroutines may write to and
// read from. The zero value is ready to use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Take returns everything written so far and empties the buffer.
func (b *SyncBuffer) Take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// CancelAfter passes writes through to W and calls Cancel once N bytes
// went by: it stops an operation midway at a chosen point.
type CancelAfter struct {
	W      io.Writer
	N      int
	Cancel context.CancelFunc
}

// Write passes p through and counts it.
func (c *CancelAfter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N -= n
	if c.N <= 0 {
		c.Cancel()
	}
	return n, err
}

// WriteFile writes s to p, creating p's directory, or fails the test.
func WriteFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
