package step

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rktbuild/rktbuild/internal/say"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Printf writes to the session's Out (installed in ctx by WithSession;
// standard output without a session), one call at a time.
func Printf(ctx context.Context, format string, args ...any) {
	say.Printf(ctx, format, args...)
}

// Summaryf prints one line that is always shown (quiet mode's one line per
// step).
func Summaryf(ctx context.Context, format string, args ...any) {
	Printf(ctx, format+"\n", args...)
}

// Logf prints a line only in verbose mode, prefixed by the step in ctx.
func Logf(ctx context.Context, format string, args ...any) {
	if !SessionFrom(ctx).Verbose {
		return
	}
	Printf(ctx, "%s"+format+"\n", append([]any{prefix(ctx)}, args...)...)
}

func prefix(ctx context.Context) string {
	if n := Name(ctx); n != "" {
		return "[" + n + "] "
	}
	return ""
}

// lineWriter splits written bytes into lines, writes each to Out with a
// prefix when live is true, and keeps the last lines for error reports.
type lineWriter struct {
	ctx    context.Context
	prefix string
	live   bool
	mu     sync.Mutex
	buf    bytes.Buffer
	tail   []string
	keep   int
}

func newLineWriter(ctx context.Context, live bool) *lineWriter {
	return &lineWriter{ctx: ctx, prefix: prefix(ctx), live: live, keep: 25}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			// incomplete line: keep it for the next write
			w.buf.Reset()
			w.buf.WriteString(line)
			break
		}
		w.emit(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (w *lineWriter) emit(line string) {
	w.tail = append(w.tail, line)
	if len(w.tail) > w.keep {
		w.tail = w.tail[len(w.tail)-w.keep:]
	}
	if w.live {
		Printf(w.ctx, "%s%s\n", w.prefix, line)
	}
}

// Flush emits a trailing partial line.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}

// Tail returns the last lines written.
func (w *lineWriter) Tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.tail...)
}

// terminal reports whether the session's Out is an interactive terminal.
func (s *Session) terminal() bool {
	f, ok := s.out().(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == ""
}

// Progress reports progress of a long transfer: a bar on a terminal, a plain
// line every 10 seconds otherwise (CI logs). Write counts bytes; call Done
// when finished. total may be -1 when unknown.
type Progress struct {
	desc  string
	total int64
	n     atomic.Int64
	bar   *progressbar.ProgressBar
	start time.Time
	stop  chan struct{}
	once  sync.Once
	ctx   context.Context
}

// NewProgress starts a progress report for desc.
func NewProgress(ctx context.Context, desc string, total int64) *Progress {
	p := &Progress{desc: desc, total: total, start: time.Now(), stop: make(chan struct{}), ctx: ctx}
	if SessionFrom(ctx).terminal() {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetDescription(prefix(ctx)+desc),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		return p
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				Printf(ctx, "%s%s\n", prefix(ctx), p.line())
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

func (p *Progress) line() string {
	n := p.n.Load()
	el := time.Since(p.start).Seconds()
	rate := float64(n) / 1e6 / maxf(el, 0.001)
	if p.total > 0 {
		return fmt.Sprintf("%s: %d%% (%.1f/%.1f MB, %.1f MB/s)", p.desc, n*100/p.total, float64(n)/1e6, float64(p.total)/1e6, rate)
	}
	return fmt.Sprintf("%s: %.1f MB (%.1f MB/s)", p.desc, float64(n)/1e6, rate)
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// Write counts len(b) bytes of progress.
func (p *Progress) Write(b []byte) (int, error) {
	p.n.Add(int64(len(b)))
	if p.bar != nil {
		_ = p.bar.Add(len(b))
	}
	return len(b), nil
}

// Done ends the report and prints a final line in verbose mode.
func (p *Progress) Done() {
	p.once.Do(func() {
		close(p.stop)
		if p.bar != nil {
			_ = p.bar.Finish()
		}
		Logf(p.ctx, "%s", p.line())
	})
}
