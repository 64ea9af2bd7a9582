package targets

// Config → Options mapping: the one place where the configuration becomes
// the typed options the domain packages take (they never import config).
// Each area keeps its functions in its own block.

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/nspawn/static"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/stage1"
	"github.com/rktbuild/rktbuild/stage1/upstream"
)

// --- engine: kernel, stage1, stage1/upstream, rkt, nspawn ---

// kernelOptions maps the configuration to kernel.Options.
func kernelOptions(c *config.Config) (kernel.Options, error) {
	o := kernel.Options{
		Version:         c.KernelVersion,
		Source:          c.KernelSource,
		BaseURL:         c.KernelURL,
		DistroPackage:   c.KernelDistroPackage,
		Local:           c.KernelLocal,
		Suffix:          c.KernelVersionSuffix,
		ExtraPatchFiles: c.ExtraKernelPatchFiles,
		ExtraPatchURLs:  c.ExtraKernelPatchURLs,
		WorkDir:         filepath.Join(c.BuildDir, "kernel"),
		CacheDir:        filepath.Join(c.CacheDir, "kernel"),
		Jobs:            c.Jobs,
	}
	ccRemote, store, err := kernel.RemoteSplit(c.RemoteCache)
	if err != nil {
		return o, err
	}
	if _, err := kernel.ParseCCacheMode(c.CCache); err != nil {
		return o, err
	}
	o.CCache = kernel.CCache{Mode: c.CCache, Remote: ccRemote}
	o.StepStore = store
	epoch, has, err := c.Epoch()
	if err != nil {
		return o, err
	}
	if has {
		o.BuildTimestamp = time.Unix(epoch, 0).UTC().Format(time.RFC1123)
	}
	return o, nil
}

// stage1Pack is the pack options of stage1 images: SOURCE_DATE_EPOCH
// (else the epoch the kernel build derived from its source) and root
// ownership.
func stage1Pack(c *config.Config, kernelEpoch int64) (aci.PackOptions, error) {
	epoch, has, err := c.Epoch()
	if err != nil {
		return aci.PackOptions{}, err
	}
	if !has && kernelEpoch != 0 {
		epoch, has = kernelEpoch, true
	}
	return aci.PackOptions{Epoch: epoch, HasEpoch: has, ForceRoot: true}, nil
}

// stage1Sign signs a stage1 image with SIGNING_KEY.
func stage1Sign(c *config.Config) func(ctx context.Context, file string) error {
	return func(ctx context.Context, file string) error { return sign.SignArtifact(ctx, c, file) }
}

// stage1Options maps the configuration to stage1.Options for kernel k and
// the upstream stage1 image upstreamACI ("" for a dependency on it).
func stage1Options(c *config.Config, k *kernel.Result, upstreamACI string) (stage1.Options, error) {
	rktv, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return stage1.Options{}, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	pack, err := stage1Pack(c, k.Epoch.Unix)
	if err != nil {
		return stage1.Options{}, err
	}
	return stage1.Options{
		Kernel:      k,
		Rkt:         rktv,
		Name:        c.Stage1Name,
		OutDir:      c.OutDir,
		WorkDir:     filepath.Join(c.BuildDir, "stage1"),
		UpstreamACI: upstreamACI,
		Pack:        pack,
		Sign:        stage1Sign(c),
		SignInputs:  sign.KeyFiles(c.SigningKey),
	}, nil
}

// upstreamOptions maps the configuration to upstream.Options.
func upstreamOptions(c *config.Config) (upstream.Options, error) {
	rktv, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return upstream.Options{}, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	if err := upstream.CheckAccel(c.Stage1QemuAccel); err != nil {
		return upstream.Options{}, err
	}
	pack, err := stage1Pack(c, 0)
	if err != nil {
		return upstream.Options{}, err
	}
	return upstream.Options{
		Rkt:        rktv,
		WorkDir:    filepath.Join(c.BuildDir, "stage1-upstream"),
		RktWorkDir: filepath.Join(c.BuildDir, "rkt"),
		OutDir:     c.OutDir,
		Accel:      c.Stage1QemuAccel,
		Pack:       pack,
		Sign:       stage1Sign(c),
		SignInputs: sign.KeyFiles(c.SigningKey),
	}, nil
}

// smokeOptions boots the kernel of the stage1 rootfs built into b.
func smokeOptions(c *config.Config, b *stage1.Built) (stage1.SmokeOptions, error) {
	rktv, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return stage1.SmokeOptions{}, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	return stage1.SmokeOptions{
		Kernel:  filepath.Join(b.Rootfs, stage1.KernelPath(rktv)),
		WorkDir: filepath.Join(c.BuildDir, "stage1", "smoke"),
		Accel:   c.QemuAccel,
	}, nil
}

// rktOptions builds rkt from source under S1B_BUILD_DIR/rkt.
func rktOptions(c *config.Config) rkt.Options {
	return rkt.Options{WorkDir: filepath.Join(c.BuildDir, "rkt")}
}

// nspawnOptions maps the configuration to static.Options:
// NSPAWN_RELEASE (empty: ROOTFS_SUITE), NSPAWN_BUILD_IN, S1B_BUILD_DIR,
// S1B_JOBS; the patches are the repository's nspawn/patches.
func nspawnOptions(c *config.Config) static.Options {
	rel := c.NspawnRelease
	if rel == "" {
		rel = c.RootfsSuite
	}
	ro := rootfs.Options{
		Arch:     c.RootfsArch,
		CacheDir: filepath.Join(c.CacheDir, "debs", "nspawn-"+rel+"-"+c.RootfsArch),
	}
	if rel == c.RootfsSuite {
		// A mirror or keyring configured for another suite may not carry
		// this release.
		ro.Mirror, ro.Keyring = c.RootfsMirror, c.RootfsKeyring
	}
	return static.Options{
		Release:  rel,
		BuildIn:  c.NspawnBuildIn,
		Dir:      filepath.Join(c.BuildDir, "nspawn"),
		PatchDir: nspawnPatchDir,
		Jobs:     c.Jobs,
		Rootfs:   ro,
	}
}

// --- end engine ---
