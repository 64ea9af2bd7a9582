package step

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/magefile/mage/mg"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// The build-wide failure context: the first failing dependency cancels it,
// and with it every sibling that is still running.
var (
	failCtx, failCancel = context.WithCancelCause(context.Background())
)

// failFast wraps a mage dependency so its failure cancels the whole build.
type failFast struct{ mg.Fn }

func (f failFast) Run(ctx context.Context) error {
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

// SerialDeps is Deps one at a time, in order.
func SerialDeps(ctx context.Context, fns ...interface{}) {
	for _, f := range fns {
		Deps(ctx, f)
	}
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

var (
	jobsOnce sync.Once
	jobs     *semaphore.Weighted
	jobsMax  int64
	// JobsLimit is the S1B_JOBS budget; set it before the first command.
	JobsLimit = runtime.NumCPU()
)

// AcquireJobs reserves n slots of the shared job budget (capped at the
// budget) and returns the release function.
func AcquireJobs(ctx context.Context, n int) (func(), error) {
	jobsOnce.Do(func() {
		jobsMax = int64(max(JobsLimit, 1))
		jobs = semaphore.NewWeighted(jobsMax)
	})
	w := min(int64(n), jobsMax)
	if err := jobs.Acquire(ctx, w); err != nil {
		return nil, fmt.Errorf("waiting for a job slot: %w", context.Cause(ctx))
	}
	return func() { jobs.Release(w) }, nil
}

// resetFailure starts a fresh build-wide failure context (tests).
func resetFailure() { failCtx, failCancel = context.WithCancelCause(context.Background()) }

func newWeighted(n int64) *semaphore.Weighted { return semaphore.NewWeighted(n) }
