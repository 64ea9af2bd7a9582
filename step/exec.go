package step

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Cmd describes an external command. Zero fields mean: current directory,
// current environment, no stdin, output shown only in verbose mode.
type Cmd struct {
	Dir   string
	Env   []string // extra KEY=VALUE entries appended to the environment
	Stdin io.Reader
	// Stdout, when set, receives the command's standard output instead of
	// the log (stderr still goes to the log).
	Stdout io.Writer
	// Jobs reserves that many slots of the S1B_JOBS budget while running.
	Jobs int
	// Live shows output even when not verbose (interactive programs).
	Live bool
}

// CmdError is returned when a command fails: it names the step, the command
// and shows the last lines of its output.
type CmdError struct {
	Step string
	Args []string
	Err  error
	Tail []string
}

func (e *CmdError) Error() string {
	var b strings.Builder
	if e.Step != "" {
		fmt.Fprintf(&b, "step %s: ", e.Step)
	}
	fmt.Fprintf(&b, "command %q failed: %v", strings.Join(e.Args, " "), e.Err)
	if len(e.Tail) > 0 {
		b.WriteString("\n  last output:\n")
		for _, l := range e.Tail {
			b.WriteString("    " + l + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func (e *CmdError) Unwrap() error { return e.Err }

// ExitCode returns the command's exit status, or -1.
func (e *CmdError) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// killGrace is how long a process group gets between SIGTERM and SIGKILL.
var killGrace = 3 * time.Second

// Command returns an exec.Cmd that runs in its own process group, which is
// terminated (SIGTERM, then SIGKILL) when ctx is cancelled, and killed if
// this process dies.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c.Cancel = func() error {
		pgid := c.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		go func() {
			time.Sleep(killGrace)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}()
		return nil
	}
	c.WaitDelay = killGrace + 2*time.Second
	return c
}

// Run runs a command with default options.
func Run(ctx context.Context, name string, args ...string) error {
	return Cmd{}.Run(ctx, name, args...)
}

// Output runs a command and returns its trimmed standard output.
func Output(ctx context.Context, name string, args ...string) (string, error) {
	var b strings.Builder
	err := Cmd{Stdout: &b}.Run(ctx, name, args...)
	return strings.TrimSpace(b.String()), err
}

// Run runs the command, waiting for job slots first. Output lines are
// prefixed with the step name from ctx; they are shown live in verbose mode
// and the last ones are included in the error when the command fails.
func (o Cmd) Run(ctx context.Context, name string, args ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not running %s: %w", name, context.Cause(ctx))
	}
	if o.Jobs > 0 {
		release, err := AcquireJobs(ctx, o.Jobs)
		if err != nil {
			return err
		}
		defer release()
	}
	lw := newLineWriter(ctx, o.Live || SessionFrom(ctx).Verbose)
	c := Command(ctx, name, args...)
	c.Dir = o.Dir
	if len(o.Env) > 0 {
		c.Env = append(os.Environ(), o.Env...)
	}
	c.Stdin = o.Stdin
	c.Stdout = lw
	if o.Stdout != nil {
		c.Stdout = o.Stdout
	}
	c.Stderr = lw
	Logf(ctx, "$ %s", strings.Join(append([]string{name}, args...), " "))
	err := c.Run()
	lw.Flush()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		} else if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: install it (see `mage doctor`)", err)
		}
		return &CmdError{Step: Name(ctx), Args: append([]string{name}, args...), Err: err, Tail: lw.Tail()}
	}
	return nil
}
