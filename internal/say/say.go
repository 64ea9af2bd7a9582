// Package say carries the writer for rktbuild's own messages in a context,
// so packages below the build engine (format/aci, sign, …) report what
// they did to the build's output without importing it. step.WithSession
// installs the session's writer; without one, messages go to standard
// output.
package say

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

type key struct{}

// lockedWriter serialises writes so that lines from concurrent steps do
// not interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var stdout = &lockedWriter{w: os.Stdout}

// WithWriter returns ctx whose messages go to w (one write at a time).
func WithWriter(ctx context.Context, w io.Writer) context.Context {
	if _, ok := w.(*lockedWriter); !ok {
		w = &lockedWriter{w: w}
	}
	return context.WithValue(ctx, key{}, w)
}

// Writer returns the writer for messages in ctx (standard output when ctx
// carries none).
func Writer(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(key{}).(io.Writer); ok {
		return w
	}
	return stdout
}

// Printf writes a message to ctx's writer.
func Printf(ctx context.Context, format string, args ...any) {
	fmt.Fprintf(Writer(ctx), format, args...)
}

// Linef writes one line (format plus a newline) to ctx's writer.
func Linef(ctx context.Context, format string, args ...any) {
	Printf(ctx, format+"\n", args...)
}
