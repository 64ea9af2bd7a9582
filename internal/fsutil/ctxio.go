package fsutil

import (
	"context"
	"io"
)

// CtxReader returns a reader that fails with ctx's cause as soon as ctx is
// cancelled: every Read checks it first. Wrap the reader of any copy that
// can be large (one tar entry of several GiB, a download) so that Ctrl-C
// stops it within one chunk, not at the next entry.
func CtxReader(ctx context.Context, r io.Reader) io.Reader {
	if ctx.Done() == nil {
		return r // never cancelled
	}
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}
