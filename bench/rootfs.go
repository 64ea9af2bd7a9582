package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/step"
)

// Rootfs times mmdebstrap against debootstrap building o.Rootfs's suite
// from the same warm .deb cache (a first mmdebstrap run fills it); each
// builder runs o.Runs times (default 1, interleaved) into fresh
// directories under BuildDir/bench/rootfs and the best wall time counts.
// Needs root.
func Rootfs(ctx context.Context, o Options) (Result, error) {
	if os.Geteuid() != 0 {
		return Result{}, fmt.Errorf("bench rootfs needs root (debootstrap and mmdebstrap --mode=root): run `sudo go run mage.go bench rootfs`")
	}
	base, err := o.dir("rootfs")
	if err != nil {
		return Result{}, err
	}
	stamps := filepath.Join(base, "stamps")
	ctx = step.WithStampDir(ctx, stamps)
	build := func(builder string, i int) (time.Duration, error) {
		ro := o.Rootfs
		ro.Builder = builder
		ro.Dir = filepath.Join(base, fmt.Sprintf("%s-%d", builder, i))
		if err := fsutil.RemoveAll(ro.Dir); err != nil {
			return 0, err
		}
		if err := fsutil.RemoveAll(stamps); err != nil {
			return 0, err
		}
		start := time.Now()
		if _, err := rootfs.Build(ctx, ro); err != nil {
			return 0, fmt.Errorf("%s: %w", builder, err)
		}
		took := time.Since(start)
		step.Summaryf(ctx, "bench rootfs: %s %s: %s", builder, ro.Suite, took.Round(100*time.Millisecond))
		return took, fsutil.RemoveAll(ro.Dir)
	}
	if _, err := build("mmdebstrap", 0); err != nil { // fills the .deb cache
		return Result{}, err
	}
	var mm, deb time.Duration
	for i := 1; i <= o.runs(1); i++ {
		d, err := build("debootstrap", i)
		if err != nil {
			return Result{}, err
		}
		if deb == 0 || d < deb {
			deb = d
		}
		m, err := build("mmdebstrap", i)
		if err != nil {
			return Result{}, err
		}
		if mm == 0 || m < mm {
			mm = m
		}
	}
	return Result{Ours: mm, Peer: deb, PeerTool: "debootstrap, " + o.Rootfs.Suite + " " + o.Rootfs.Variant}, nil
}
