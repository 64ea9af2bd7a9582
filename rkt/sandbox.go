package rkt

import (
	"context"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/rktbuild/rktbuild/step"
)

// Sandbox runs rkt with all of its state under one directory: the data
// directory (--dir), the local, system and user configuration (where the
// trust store lives). Nothing on the host outside Root is read or written
// by rkt, and commands run in a private mount namespace, so fly's mounts
// disappear with the command instead of staying on the host until
// `rkt gc`.
type Sandbox struct {
	// Tools are the rkt binary and the stage1 it uses by default.
	Tools Tools
	// Root holds dir/, local/, system/ and user/.
	Root string
}

// NewSandbox creates an empty sandbox under root (created if needed).
func NewSandbox(root string, t Tools) (*Sandbox, error) {
	if t.Rkt == "" {
		return nil, errors.New("rkt sandbox: no rkt binary (build it with rkt.Build or `mage rkt:tools`)")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{Tools: t, Root: abs}
	for _, d := range []string{"dir", "local", "system", "user"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("rkt sandbox: %w", err)
		}
	}
	return s, nil
}

// Dir is the sandbox's rkt data directory (--dir).
func (s *Sandbox) Dir() string { return filepath.Join(s.Root, "dir") }

// LocalConfig is the sandbox's --local-config directory; rkt trust writes
// its keys under LocalConfig/trustedkeys.
func (s *Sandbox) LocalConfig() string { return filepath.Join(s.Root, "local") }

// Argv returns the full rkt command line for args: the binary, the
// sandbox's global flags, then args.
func (s *Sandbox) Argv(args ...string) []string {
	return append([]string{s.Tools.Rkt,
		"--dir=" + s.Dir(),
		"--local-config=" + s.LocalConfig(),
		"--system-config=" + filepath.Join(s.Root, "system"),
		"--user-config=" + filepath.Join(s.Root, "user"),
	}, args...)
}

// UnshareArgv is Argv run in a new private mount namespace (`unshare -m
// --propagation private`); fly needs it.
func (s *Sandbox) UnshareArgv(args ...string) []string {
	return append([]string{"unshare", "-m", "--propagation", "private", "--"}, s.Argv(args...)...)
}

// Command returns rkt args as a command in its own process group and
// mount namespace, killed with ctx. The caller sets Stdout, Stderr, Env.
func (s *Sandbox) Command(ctx context.Context, args ...string) *exec.Cmd {
	argv := s.UnshareArgv(args...)
	return step.Command(ctx, argv[0], argv[1:]...)
}

// Trust adds the armored public key file to the sandbox's trust store for
// images whose names start with prefix ("" trusts it for every image,
// rkt's --root). rkt asks for confirmation on a terminal only, so the
// fingerprint review is skipped: the caller names the key file.
func (s *Sandbox) Trust(ctx context.Context, prefix, keyFile string) error {
	args := []string{"trust", "--skip-fingerprint-review"}
	if prefix == "" {
		args = append(args, "--root")
	} else {
		args = append(args, "--prefix="+prefix)
	}
	args = append(args, keyFile)
	out, err := s.Command(ctx, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rkt trust %s for %q: %w\n%s", keyFile, prefix, err, out)
	}
	return nil
}

// Close removes the sandbox (pods, image store, keys).
func (s *Sandbox) Close() error { return fsutil.RemoveAll(s.Root) }
