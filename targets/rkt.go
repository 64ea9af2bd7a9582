package targets

import (
	"context"
	"time"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/host"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/step"
)

// rktTools are the host programs building and running rkt needs (the
// fly stage1's programs also need libacl1-dev's headers).
var rktTools = []host.Tool{
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
	return run(ctx, "rkt:tools", func(ctx context.Context, c *config.Config) error {
		start := time.Now()
		t, err := rkt.Build(ctx, rktOptions(c))
		if err == nil {
			step.Donef(ctx, "%s", t.Summary(time.Since(start)))
		}
		return err
	})
}
