// Package nspawn runs commands inside directory root file systems with
// systemd-nspawn. It is the runner every image step and `mage run` uses:
// it finds the binary (the static build from `mage nspawn` when present,
// else the host's), turns typed options into nspawn's command line, and
// reports which binary it used.
package nspawn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// StaticPath is where `mage nspawn` puts the static systemd-nspawn,
// relative to S1B_BUILD_DIR.
const StaticPath = "nspawn/systemd-nspawn"

// Runner runs systemd-nspawn.
type Runner struct {
	// Binary is the systemd-nspawn executable.
	Binary string
	// Origin says where Binary came from: "static build" or "host".
	Origin string
}

// String says which binary the runner uses, for logs.
func (r *Runner) String() string { return fmt.Sprintf("%s (%s)", r.Binary, r.Origin) }

// Find returns a runner for the static systemd-nspawn under buildDir when it
// exists and is executable, else for the host's systemd-nspawn found in
// PATH. It fails with the fix when there is neither.
func Find(buildDir string) (*Runner, error) {
	if buildDir != "" {
		p := filepath.Join(buildDir, StaticPath)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			return &Runner{Binary: abs, Origin: "static build"}, nil
		}
	}
	if p, err := exec.LookPath("systemd-nspawn"); err == nil {
		return &Runner{Binary: p, Origin: "host"}, nil
	}
	return nil, fmt.Errorf("no systemd-nspawn: neither %s (build it with `mage nspawn`) nor systemd-nspawn in PATH (install the systemd-container package)",
		filepath.Join(buildDir, StaticPath))
}

// Bind is a host path made visible inside the container.
type Bind struct {
	Source   string // host path (made absolute)
	Target   string // path inside the container; empty means Source
	ReadOnly bool
}

// Options describe one command run in a rootfs.
type Options struct {
	// Root is the directory holding the container's root file system.
	Root string
	// Args is the command and its arguments; empty runs the rootfs's
	// default shell, which is rarely what you want.
	Args []string
	// Binds are extra bind mounts.
	Binds []Bind
	// Tmpfs lists container paths that get an empty tmpfs.
	Tmpfs []string
	// Env holds KEY=VALUE entries set for the command.
	Env []string
	// User runs the command as this user (name or UID) when set.
	User string
	// WorkDir is the command's working directory inside the container.
	WorkDir string
	// ResolvConf is nspawn's --resolv-conf mode; empty means
	// "replace-host" (the host's DNS configuration, copied in).
	ResolvConf string
	// Volatile runs on a read-only root with a tmpfs overlay on top
	// (--volatile=overlay): the rootfs is not changed and may be shared by
	// several containers at once.
	Volatile bool
	// ReadOnly mounts the root read-only.
	ReadOnly bool
	// PrivateNetwork gives the container no network but loopback.
	PrivateNetwork bool
	// Console is nspawn's --console mode; empty means "pipe" (plain
	// stdin/stdout/stderr, right for builds and scripts).
	Console string
	// MachineName is the container's name; empty lets nspawn pick.
	MachineName string
	// Stdin, Stdout and Stderr connect the command; nil Stdout/Stderr
	// send output to the step log (shown live when Live is set).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Live shows the command's output even when not verbose.
	Live bool
	// Jobs reserves that many slots of the S1B_JOBS budget while running.
	Jobs int
}

// Args returns systemd-nspawn's arguments for o (without the binary). It
// is pure: it checks the options but touches nothing.
func Args(o Options) ([]string, error) {
	if o.Root == "" {
		return nil, errors.New("nspawn: no root directory given")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	resolv := o.ResolvConf
	if resolv == "" {
		resolv = "replace-host"
	}
	console := o.Console
	if console == "" {
		console = "pipe"
	}
	args := []string{
		"--quiet",
		"--register=no",
		"--keep-unit",
		"--as-pid2",
		"--link-journal=no",
		"--console=" + console,
		"--resolv-conf=" + resolv,
		"--timezone=off",
		"--directory=" + root,
	}
	if o.MachineName != "" {
		args = append(args, "--machine="+o.MachineName)
	}
	if o.Volatile {
		args = append(args, "--volatile=overlay")
	}
	if o.ReadOnly {
		args = append(args, "--read-only")
	}
	if o.PrivateNetwork {
		args = append(args, "--private-network")
	}
	for _, b := range o.Binds {
		if b.Source == "" {
			return nil, errors.New("nspawn: bind mount with an empty source")
		}
		if strings.Contains(b.Source, ":") || strings.Contains(b.Target, ":") {
			return nil, fmt.Errorf("nspawn: bind mount %s:%s: paths may not contain ':'", b.Source, b.Target)
		}
		src, err := filepath.Abs(b.Source)
		if err != nil {
			return nil, err
		}
		tgt := b.Target
		if tgt == "" {
			tgt = src
		}
		if !filepath.IsAbs(tgt) {
			return nil, fmt.Errorf("nspawn: bind target %q is not an absolute path", tgt)
		}
		flag := "--bind="
		if b.ReadOnly {
			flag = "--bind-ro="
		}
		args = append(args, flag+src+":"+tgt)
	}
	for _, t := range o.Tmpfs {
		args = append(args, "--tmpfs="+t)
	}
	env := append([]string(nil), o.Env...)
	sort.SliceStable(env, func(i, j int) bool { return envKey(env[i]) < envKey(env[j]) })
	for _, e := range env {
		if k := envKey(e); k == "" || !strings.Contains(e, "=") {
			return nil, fmt.Errorf("nspawn: environment entry %q is not KEY=VALUE", e)
		}
		args = append(args, "--setenv="+e)
	}
	if o.User != "" {
		args = append(args, "--user="+o.User)
	}
	if o.WorkDir != "" {
		if !filepath.IsAbs(o.WorkDir) {
			return nil, fmt.Errorf("nspawn: working directory %q is not an absolute path", o.WorkDir)
		}
		args = append(args, "--chdir="+o.WorkDir)
	}
	if len(o.Args) > 0 {
		args = append(args, "--")
		args = append(args, o.Args...)
	}
	return args, nil
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

// Run runs o's command in its rootfs and returns its error; a failing
// command gives a *step.CmdError whose ExitCode is the command's.
func (r *Runner) Run(ctx context.Context, o Options) error {
	args, err := Args(o)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(o.Root); err != nil || !fi.IsDir() {
		return fmt.Errorf("nspawn: root %s is not a directory", o.Root)
	}
	step.Logf(ctx, "running in %s with %s", o.Root, r)
	if o.Stdout != nil && o.Stderr != nil {
		// Direct connection (interactive runs): own process group, killed
		// with ctx, output unprefixed.
		if o.Jobs > 0 {
			release, err := step.AcquireJobs(ctx, o.Jobs)
			if err != nil {
				return err
			}
			defer release()
		}
		c := step.Command(ctx, r.Binary, args...)
		c.Stdin, c.Stdout, c.Stderr = o.Stdin, o.Stdout, o.Stderr
		step.Logf(ctx, "$ %s %s", r.Binary, strings.Join(args, " "))
		if err := c.Run(); err != nil {
			return &step.CmdError{Step: step.Name(ctx), Args: append([]string{r.Binary}, args...), Err: err}
		}
		return nil
	}
	return step.Cmd{Stdin: o.Stdin, Stdout: o.Stdout, Live: o.Live, Jobs: o.Jobs}.Run(ctx, r.Binary, args...)
}

// ExitCode returns the exit status carried by err (0 for nil, -1 when err
// is not a command's exit).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ce *step.CmdError
	if errors.As(err, &ce) {
		return ce.ExitCode()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
