package step

import (
	"context"
	"fmt"

	"github.com/magefile/mage/mg"
	"golang.org/x/sync/errgroup"
)

// failFast wraps a mage dependency so its failure cancels the whole build.
type failFast struct{ mg.Fn }

func (f failFast) Run(ctx context.Context) error {
	failCtx, failCancel := SessionFrom(ctx).failure()
	ctx, stop := Merge(ctx, failCtx)
	defer stop()
	err := f.Fn.Run(ctx)
	if err != nil {
		failCancel(fmt.Errorf("cancelled because %s failed", f.Fn.Name()))
	}
	return err
}

// Deps runs mage targets as dependencies: each exactly once per mage run,
// in parallel, with ctx. Unlike mg.CtxDeps alone, the first failure cancels
// the siblings still running, and their commands are killed.
func Deps(ctx context.Context, fns ...interface{}) {
	wrapped := make([]interface{}, len(fns))
	for i, f := range fns {
		fn, ok := f.(mg.Fn)
		if !ok {
			fn = mg.F(f)
		}
		wrapped[i] = failFast{fn}
	}
	mg.CtxDeps(ctx, wrapped...)
}

// Merge returns a context cancelled when either parent is.
func Merge(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// Parallel runs fns concurrently; the first error cancels the others and is
// returned.
func Parallel(ctx context.Context, fns ...func(ctx context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, fn := range fns {
		g.Go(func() error { return fn(gctx) })
	}
	return g.Wait()
}

// AcquireJobs reserves n slots of the session's job budget (capped at the
// budget) and returns the release function.
func AcquireJobs(ctx context.Context, n int) (func(), error) {
	release, err := SessionFrom(ctx).acquire(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("waiting for a job slot: %w", context.Cause(ctx))
	}
	return release, nil
}
