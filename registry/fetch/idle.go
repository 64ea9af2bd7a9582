package fetch

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultIdleTimeout is how long a download may go without receiving a
// byte before it is abandoned, when Net.IdleTimeout is zero.
const DefaultIdleTimeout = 60 * time.Second

// IdleError reports a download that stalled: the server stopped sending.
type IdleError struct {
	URL     string
	Timeout time.Duration
	Got     int64
}

// Error says the download stalled, after how many bytes, and how to change the limit.
func (e *IdleError) Error() string {
	return fmt.Sprintf("GET %s: no data for %s after %d bytes: the server stalled (FETCH_IDLE_TIMEOUT sets the limit)", e.URL, e.Timeout, e.Got)
}

// withIdle derives a request context that is cancelled, with an
// *IdleError as its cause, when no byte arrives for d. Call watch on the
// response body: every successful Read re-arms the timer. stop releases
// the timer.
func withIdle(ctx context.Context, url string, d time.Duration) (rctx context.Context, watch func(io.ReadCloser) io.ReadCloser, stop func()) {
	if d <= 0 {
		d = DefaultIdleTimeout
	}
	rctx, cancel := context.WithCancelCause(ctx)
	ib := &idleBody{d: d}
	ib.timer = time.AfterFunc(d, func() {
		ib.mu.Lock()
		got := ib.n
		ib.mu.Unlock()
		cancel(&IdleError{URL: url, Timeout: d, Got: got})
	})
	watch = func(body io.ReadCloser) io.ReadCloser {
		ib.ReadCloser = body
		ib.ctx = rctx
		return ib
	}
	stop = func() {
		ib.timer.Stop()
		cancel(context.Canceled)
	}
	return rctx, watch, stop
}

type idleBody struct {
	io.ReadCloser
	ctx   context.Context
	d     time.Duration
	timer *time.Timer
	mu    sync.Mutex
	n     int64
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.mu.Lock()
		b.n += int64(n)
		b.mu.Unlock()
		b.timer.Reset(b.d)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause != nil {
			if ie, ok := cause.(*IdleError); ok {
				return n, ie
			}
		}
	}
	return n, err
}

// Close stops the timer and closes the body.
func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}

// stopOnClose releases the idle watch when the body is closed.
type stopOnClose struct {
	io.ReadCloser
	stop func()
}

func (s stopOnClose) Close() error {
	err := s.ReadCloser.Close()
	s.stop()
	return err
}
