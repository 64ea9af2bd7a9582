package say

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
)

func TestWriterFromContext(t *testing.T) {
	var buf bytes.Buffer
	ctx := WithWriter(context.Background(), &buf)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); Linef(ctx, "line %02d of a message", i) }()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "line ") || !strings.HasSuffix(l, " of a message") {
			t.Errorf("interleaved line %q", l)
		}
	}
	if Writer(context.Background()) != stdout {
		t.Error("a context without a writer does not write to standard output")
	}
}
