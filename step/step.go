// Package step is rktbuild's build graph: content-addressed up-to-date checks,
// cancellable commands in their own process groups, fail-fast dependencies,
// a shared job budget, prefixed output, progress reporting and dry runs as
// a planning pass. Every rktbuild target is written on it. Its state lives
// in a Session carried in the context, not in package variables; atomic
// files, locks and copying are in internal/fsutil.
//
// A step declares its inputs (files, directories, named values such as config
// keys or tool versions) and its outputs. Do runs the step only when the hash
// of its inputs differs from the stamp recorded after the last successful run,
// or when an output is missing or was changed since; it then says which input
// changed.
package step

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"
)

// Inputs are what a step's result depends on.
type Inputs struct {
	// Files are files or directories hashed by content (directories
	// recursively: names, modes, link targets, contents).
	Files []string
	// Values are named strings: config values, versions, option sets.
	Values map[string]string
}

// Step is one unit of work with declared inputs and outputs.
type Step struct {
	// Name identifies the step in output and names its stamp, e.g.
	// "kernel:build". It must be unique within a stamp directory.
	Name string
	// Inputs decide whether the step must run.
	Inputs Inputs
	// Outputs are the files or directories the step produces. A missing or
	// changed output makes the step run again. Files are compared by
	// content (through the stat-keyed hash cache); a directory output is
	// compared by identity (inode, mtime, ctime of the directory), so it
	// must be replaced as a whole (ReplaceDir), never edited in place;
	// VERIFY_OUTPUTS=1 re-hashes directory outputs by content instead
	// (see VerifyOutputs), which catches edits in place.
	Outputs []string
	// StampDir overrides the directory that holds stamps (default: the
	// session's StampDir).
	StampDir string
	// Run does the work. It must write its outputs atomically (see
	// WriteFile and ReplaceDir) and stop when ctx is cancelled.
	Run func(ctx context.Context) error
}

type stamp struct {
	Inputs  map[string]string `json:"inputs"`
	Outputs map[string]string `json:"outputs"`
}

// Result reports what Do decided.
type Result struct {
	Ran    bool
	Reason string // why it ran (or would run), or "up to date"
	// WouldRun is set in a planning session for a step that is not up to
	// date: it was reported, not run.
	WouldRun bool
}

type ctxKey struct{}

// Name returns the name of the step running in ctx, or "".
func Name(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

// WithName marks ctx as running inside the named step; output of commands
// run with it is prefixed by that name.
func WithName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, ctxKey{}, name)
}

// Do runs s when it is not up to date and records its stamp after success.
// In a planning session (Session.DryRun) it only reports "would run NAME:
// REASON" and does not call Run; the outputs it would change make the
// steps that read them report as would-run too. When such a step has not
// produced its outputs yet, Do returns a *PlanStop (ErrPlanned): the work
// after it reads them and cannot be planned. Do takes its session from
// ctx (see SessionFrom).
func Do(ctx context.Context, s Step) (Result, error) {
	if s.Name == "" || s.Run == nil {
		return Result{}, errors.New("step: a step needs a Name and a Run function")
	}
	ses := SessionFrom(ctx)
	dir := s.StampDir
	if dir == "" {
		dir = ses.StampDir
	}
	path := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(s.Name)+".json")
	mu, _ := ses.stampLocks.LoadOrStore(path, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	cur, err := ses.hashInputs(s.Inputs)
	if err != nil {
		return Result{}, fmt.Errorf("step %s: hashing inputs: %w", s.Name, err)
	}
	reason := ses.upToDate(path, cur, s.Outputs)
	if reason == "" && ses.DryRun {
		reason = ses.rebuiltInput(s.Inputs.Files)
	}
	if reason == "" {
		Summaryf(ctx, "%s: up to date", s.Name)
		ses.saveHashCache()
		return Result{Reason: "up to date"}, nil
	}
	if ses.DryRun {
		for _, o := range s.Outputs {
			if abs, err := filepath.Abs(o); err == nil {
				ses.wouldChange.Store(abs, s.Name)
			}
		}
		Printf(ctx, "would run %s: %s\n", s.Name, reason)
		res := Result{Reason: reason, WouldRun: true}
		if missingOutput(s.Outputs) != "" {
			return res, &PlanStop{By: s.Name}
		}
		return res, nil
	}
	ses.beforeRun()
	// Remove the old stamp first: an interrupted run must not look done.
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return Result{}, err
	}
	start := time.Now()
	Logf(ctx, "%s: running (%s)", s.Name, reason)
	if err := s.Run(WithName(ctx, s.Name)); err != nil {
		return Result{}, err
	}
	outs := map[string]string{}
	for _, o := range s.Outputs {
		h, err := ses.hashOutput(o)
		if err != nil {
			return Result{}, fmt.Errorf("step %s: declared output %s was not produced: %w", s.Name, o, err)
		}
		outs[o] = h
	}
	data, _ := json.MarshalIndent(stamp{Inputs: cur, Outputs: outs}, "", "  ")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	if err := fsutil.WriteFileBytes(path, data, 0o644); err != nil {
		return Result{}, err
	}
	ses.saveHashCache()
	Summaryf(ctx, "%s: ran: %s (%s)", s.Name, reason, time.Since(start).Round(time.Millisecond))
	return Result{Ran: true, Reason: reason}, nil
}

// hashOutput hashes a produced output; directories are remembered by
// identity so that checking them later does not walk them.
func (s *Session) hashOutput(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return s.recordDir(path)
	}
	return s.hashPath(path)
}

// rebuiltInput names the first input a step planned earlier in this dry run
// would rebuild, or returns "".
func (s *Session) rebuiltInput(files []string) string {
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		for p := abs; p != "/" && p != "."; p = filepath.Dir(p) {
			if by, ok := s.wouldChange.Load(p); ok {
				return fmt.Sprintf("input %s would be rebuilt by %s", f, by)
			}
		}
	}
	return ""
}

// hashInputs hashes each input separately so a rerun can say which changed.
func (s *Session) hashInputs(in Inputs) (map[string]string, error) {
	m := map[string]string{}
	for _, f := range in.Files {
		h, err := s.hashPath(f)
		if err != nil {
			if os.IsNotExist(err) {
				h = "missing"
			} else {
				return nil, err
			}
		}
		m["file "+f] = h
	}
	for k, v := range in.Values {
		m["value "+k] = hashString(v)
	}
	return m, nil
}

// upToDate returns "" when the stamp matches, else the reason to run.
func (s *Session) upToDate(path string, cur map[string]string, outputs []string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "no record of a previous run"
	}
	var old stamp
	if err := json.Unmarshal(data, &old); err != nil {
		return "stamp unreadable"
	}
	var changed []string
	for k, v := range cur {
		if ov, ok := old.Inputs[k]; !ok {
			changed = append(changed, "new input "+k)
		} else if ov != v {
			changed = append(changed, k+" changed")
		}
	}
	for k := range old.Inputs {
		if _, ok := cur[k]; !ok {
			changed = append(changed, "input "+k+" removed")
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		return strings.Join(changed, ", ")
	}
	for _, o := range outputs {
		want, ok := old.Outputs[o]
		if !ok {
			return "output " + o + " not recorded"
		}
		got, err := s.hashPath(o)
		if err != nil {
			return "output " + o + " missing"
		}
		if got != want {
			return "output " + o + " changed since the last run"
		}
		s.rememberDir(o, got)
	}
	return ""
}
