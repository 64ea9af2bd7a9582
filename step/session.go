package step

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/internal/say"
	"golang.org/x/sync/semaphore"
)

// Session is one build's engine state, carried in the context (like mage's
// Invocation): where stamps live, the job budget, where output goes,
// whether this is a planning pass (dry run), and the hash cache. Targets
// make one per build (see NewSession and WithSession); library callers and
// tests that set none get a default session (see SessionFrom). Set the
// exported fields before the session is used; they are not changed after.
type Session struct {
	// StampDir holds step stamps and the hash cache.
	StampDir string
	// Jobs is the S1B_JOBS budget shared by every command of the session.
	Jobs int
	// Out receives rktbuild's own output.
	Out io.Writer
	// DryRun makes the session a planning pass: Do reports what would run
	// and why, and runs nothing (DRY_RUN=1, `mage plan`).
	DryRun bool
	// VerifyOutputs re-hashes directory outputs by content instead of by
	// identity (VERIFY_OUTPUTS=1): every recorded tree is walked again, so
	// a file edited in place inside an output tree makes its step run
	// again. Without it a directory output is checked by the identity of
	// its top directory, which catches replacement and removal but not
	// in-place edits.
	VerifyOutputs bool
	// Verbose shows full command output (mage -v or VERBOSE=1).
	Verbose bool
	// BeforeRun, when set, is called once per session just before the
	// first step runs for real: never in a dry run and never when every
	// step is up to date, so that read-only targets (config, plan, doctor)
	// write nothing. Targets use it to create their scratch directory.
	BeforeRun func()

	beforeOnce sync.Once
	jobsOnce   sync.Once
	jobs       *semaphore.Weighted
	jobsMax    int64
	hc         hashCache
	stampLocks sync.Map // stamp path -> *sync.Mutex
	// wouldChange holds, in a dry run, the outputs of steps that would
	// run, so that steps reading them are reported as running too.
	wouldChange sync.Map // absolute path -> step name
	failOnce    sync.Once
	failCtx     context.Context
	failCancel  context.CancelCauseFunc
}

// NewSession returns a session with stamps in stampDir and a budget of
// jobs commands (at least 1), writing to standard output. It reads
// DRY_RUN=1, VERIFY_OUTPUTS=1 and VERBOSE=1 (or mage -v) once, here.
func NewSession(stampDir string, jobs int) *Session {
	return &Session{
		StampDir:      stampDir,
		Jobs:          jobs,
		Out:           os.Stdout,
		DryRun:        os.Getenv("DRY_RUN") == "1",
		VerifyOutputs: os.Getenv("VERIFY_OUTPUTS") == "1",
		Verbose:       mg.Verbose() || os.Getenv("VERBOSE") == "1",
	}
}

type sessionKey struct{}

// WithSession returns ctx carrying s; messages written with ctx (Printf,
// Summaryf, Logf, and package say below the engine) go to s.Out.
func WithSession(ctx context.Context, s *Session) context.Context {
	return say.WithWriter(context.WithValue(ctx, sessionKey{}, s), s.out())
}

// SessionIn returns the session ctx carries, if any.
func SessionIn(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*Session)
	return s, ok && s != nil
}

// defaultSession serves callers that set no session: stamps under
// build/.stamps, one job per CPU.
var defaultSession = sync.OnceValue(func() *Session {
	return NewSession(filepath.Join("build", ".stamps"), runtime.NumCPU())
})

// SessionFrom returns the session ctx carries, or the process's default
// session (stamps in build/.stamps, one job per CPU, standard output) when
// it carries none, so library callers and tests work without setup.
func SessionFrom(ctx context.Context) *Session {
	if s, ok := SessionIn(ctx); ok {
		return s
	}
	return defaultSession()
}

// beforeRun calls BeforeRun once.
func (s *Session) beforeRun() {
	if f := s.BeforeRun; f != nil {
		s.beforeOnce.Do(f)
	}
}

// out returns the session's writer.
func (s *Session) out() io.Writer {
	if s.Out == nil {
		return os.Stdout
	}
	return s.Out
}

// acquire reserves n slots of the session's job budget (capped at the
// budget).
func (s *Session) acquire(ctx context.Context, n int) (func(), error) {
	s.jobsOnce.Do(func() {
		s.jobsMax = int64(max(s.Jobs, 1))
		s.jobs = semaphore.NewWeighted(s.jobsMax)
	})
	w := min(int64(n), s.jobsMax)
	if err := s.jobs.Acquire(ctx, w); err != nil {
		return nil, err
	}
	return func() { s.jobs.Release(w) }, nil
}

// failure returns the session's build-wide failure context: the first
// failing dependency cancels it, and with it every sibling still running.
func (s *Session) failure() (context.Context, context.CancelCauseFunc) {
	s.failOnce.Do(func() { s.failCtx, s.failCancel = context.WithCancelCause(context.Background()) })
	return s.failCtx, s.failCancel
}

// WithStampDir returns ctx carrying a fresh session like ctx's (output, dry
// run, jobs, verbosity) whose stamps and hash cache live in dir: a
// throwaway build, such as a benchmark's, that shares nothing with the
// user's stamps.
func WithStampDir(ctx context.Context, dir string) context.Context {
	cur := SessionFrom(ctx)
	s := &Session{
		StampDir:      dir,
		Jobs:          cur.Jobs,
		Out:           cur.Out,
		DryRun:        cur.DryRun,
		VerifyOutputs: cur.VerifyOutputs,
		Verbose:       cur.Verbose,
		BeforeRun:     cur.BeforeRun,
	}
	return WithSession(ctx, s)
}
