package targets

import (
	"context"
	"path/filepath"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/step"
)

// rktTools are the host programs building and running rkt needs (the
// fly stage1's programs also need libacl1-dev's headers).
var rktTools = []step.Tool{
	goTool,
	{Command: "gcc", Package: "build-essential", VersionArgs: []string{"--version"}},
	{Command: "unshare", Package: "util-linux", VersionArgs: []string{"--version"}},
	// The e2e suite runs rkt against `mage serve` in private network and
	// mount namespaces.
	{Command: "nsenter", Package: "util-linux", VersionArgs: []string{"--version"}},
	{Command: "ip", Package: "iproute2", VersionArgs: []string{"-V"}},
}

// Rkt builds the real rkt v1.30.0, used as a test tool.
type Rkt mg.Namespace

// Tools builds rkt 1.30.0 and its fly stage1 from source for tests.
//
// The source of github.com/rkt/rkt@v1.30.0 comes from the Go module proxy
// (the go command's GOPROXY) with every dependency pinned to its glide.lock
// commit; stage0 is built with CGO_ENABLED=0 and tag selinux, the fly
// stage1's programs with cgo (libacl1-dev). Outputs:
// S1B_BUILD_DIR/rkt/bin/rkt and stage1-fly.aci beside it (rkt's default
// stage1). Cached by input hash. rkt is never installed: run it through
// rkt.Sandbox (all of --dir and the config directories in one temporary
// directory, fly in a private mount namespace).
func (Rkt) Tools(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	if err := step.Need(ctx, rktTools...); err != nil {
		return err
	}
	start := time.Now()
	t, err := rkt.Build(ctx, rkt.Options{WorkDir: filepath.Join(c.BuildDir, "rkt")})
	if err != nil || step.IsDryRun() {
		return err
	}
	state := "up to date"
	if t.Ran {
		state = "built in " + time.Since(start).Round(time.Second).String()
	}
	step.Summaryf("rkt: %s and %s %s", t.Rkt, t.Stage1Fly, state)
	return nil
}
