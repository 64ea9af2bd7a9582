package targets

import (
	"context"
	"fmt"
	"os"

	"github.com/rktbuild/rktbuild/host"

	"github.com/magefile/mage/mg"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/stage1"
	"github.com/rktbuild/rktbuild/step"
)

// Stage1 groups the stage1-kvm targets besides buildStage1: smoke-booting
// the built kernel and printing the manifest.
type Stage1 mg.Namespace

// Kernel groups the kernel-only targets.
type Kernel mg.Namespace

// kernelTools are the host tools and headers a kernel build needs.
var kernelTools = kernel.Tools

// ccacheTool makes kernel rebuilds incremental across fragment, patch and
// suffix changes (S1B_CCACHE=auto uses it when installed; setup installs
// it).
var ccacheTool = host.Tool{Command: "ccache", Package: "ccache", VersionArgs: []string{"--version"}}

var qemuTool = host.Tool{Command: "qemu-system-x86_64", Package: "qemu-system-x86", VersionArgs: []string{"--version"}}

// buildKernel builds the configured kernel (a no-op when up to date).
func buildKernel(ctx context.Context, c *config.Config) (*kernel.Result, error) {
	o, err := kernelOptions(c)
	if err != nil {
		return nil, err
	}
	return kernel.Build(ctx, o)
}

// ensureKey creates SIGNING_KEY before the pack step hashes it, so that
// generating it on first use does not re-sign on the next run. Only
// existence is checked: reading the key verifies its self-signature,
// which a no-op run need not pay for.
func ensureKey(ctx context.Context, c *config.Config) error {
	if sign.KeyPairExists(c.SigningKey) {
		return nil
	}
	return step.Perform(ctx, step.Effect{What: "generate the signing key " + c.SigningKey, Have: true,
		Run: func(ctx context.Context) error { _, _, err := signerFor(c).Ensure(ctx); return err }})
}

// buildStage1 builds the kernel, the from-source upstream stage1 when
// S1B_UPSTREAM_STAGE1_KVM_ACI=build, and the signed stage1 image.
func buildStage1(ctx context.Context, c *config.Config) (*stage1.Built, error) {
	if _, err := stage1.ParseRktVersion(c.UpstreamStage1Version); err != nil {
		return nil, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	k, err := buildKernel(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := ensureKey(ctx, c); err != nil {
		return nil, err
	}
	upstreamACI := c.UpstreamStage1ACI
	if upstreamACI == UpstreamBuild {
		u, err := buildUpstream(ctx, c)
		if err != nil {
			return nil, err
		}
		upstreamACI = u.File
	}
	o, err := stage1Options(c, k, upstreamACI)
	if err != nil {
		return nil, err
	}
	return stage1.Build(ctx, o)
}

// BuildStage1 builds a verified kernel into a signed stage1-kvm image.
//
// It builds a verified kernel and packs it into a signed rkt
// stage1-kvm image.
//
// The kernel source is S1B_KERNEL_VERSION from S1B_KERNEL_URL (kernel.org
// chain: signed sha256sums.asc, tarball sha256, developer signature over
// the uncompressed tar, keys pinned in kernel/keys), or with no version the
// distribution's linux-source-X.Y package (S1B_KERNEL_SOURCE,
// S1B_KERNEL_DISTRO_PACKAGE, S1B_KERNEL_LOCAL). Config: kernel/configs/
// linux-<version>.config, linux-<major.minor>.config, else the stage1-kvm
// fragment over tinyconfig, checked by the drift gate. Patches:
// kernel/patches plus S1B_EXTRA_KERNEL_PATCH_FILES/_URLS. The release gets
// S1B_KERNEL_VERSION_SUFFIX. Built with make -j S1B_JOBS out of tree under
// S1B_BUILD_DIR.
//
// The image (S1B_STAGE1_NAME, for rkt S1B_UPSTREAM_STAGE1_KVM_VERSION,
// depending on coreos.com/rkt/stage1-kvm, or flattened with
// S1B_UPSTREAM_STAGE1_KVM_ACI: a file, or "build" for the from-source
// image of stage1:upstream) is written to
// S1B_OUT_DIR/stage1-kvm-<rktver>-linux-<release>.aci, validated and signed
// with SIGNING_KEY (.asc beside it). A rebuild with unchanged inputs does
// nothing.
func BuildStage1(ctx context.Context) error {
	return run(ctx, "buildStage1", func(ctx context.Context, c *config.Config) error {
		b, err := buildStage1(ctx, c)
		if err != nil {
			return err
		}
		step.Donef(ctx, "built %s with id %s", b.File, b.ID)
		ociSkipStage1(ctx, b.File)
		return nil
	})
}

// Build builds the configured kernel and headers, without packing.
//
// It builds the configured kernel and its headers without packing a
// stage1 image (see buildStage1 for the configuration keys it reads), and
// prints the kernel release and image path.
func (Kernel) Build(ctx context.Context) error {
	return run(ctx, "kernel:build", func(ctx context.Context, c *config.Config) error {
		k, err := buildKernel(ctx, c)
		if err == nil {
			step.Donef(ctx, "kernel %s: %s (headers in %s)", k.Release, k.Image, k.Headers)
		}
		return err
	})
}

// Smoke boots the stage1 kernel under qemu as rkt does, with a test init.
//
// It boots the stage1 kernel under qemu the way rkt's qemu hypervisor
// does (root over virtio-9p, rootfstype=9p, trans=virtio,version=9p2000.L)
// with a test init that checks /proc, /sys, devtmpfs, cgroups and the 9p
// root and powers off; it fails on a timeout or a missing marker and shows
// the console log (kept in S1B_BUILD_DIR/stage1/smoke/console.log). Runs
// buildStage1 first (a no-op when up to date) and boots the kernel inside
// the image's rootfs. Reads S1B_QEMU_ACCEL: tcg (works everywhere) or kvm.
func (Stage1) Smoke(ctx context.Context) error {
	return run(ctx, "stage1:smoke", func(ctx context.Context, c *config.Config) error {
		b, err := buildStage1(ctx, c)
		if err != nil {
			return err
		}
		o, err := smokeOptions(c, b)
		if err != nil {
			return err
		}
		return step.Perform(ctx, step.Effect{What: "boot the stage1 kernel under qemu", Run: func(ctx context.Context) error {
			res, err := stage1.Smoke(ctx, o)
			if err == nil {
				step.Summaryf(ctx, "%s", res.Summary(c.QemuAccel))
			}
			return err
		}})
	})
}

// Manifest prints the stage1 manifest buildStage1 writes for RELEASE.
//
// It prints the stage1 image manifest buildStage1 writes for a
// kernel release.
//
// Usage: mage stage1:manifest RELEASE (e.g. 6.1.192-rktbuild-v1). Shows the
// labels and the stage1 annotations of S1B_UPSTREAM_STAGE1_KVM_VERSION
// without building; reads S1B_STAGE1_NAME and S1B_UPSTREAM_STAGE1_KVM_ACI.
func (Stage1) Manifest(ctx context.Context, release string) error {
	return run(ctx, "stage1:manifest", func(ctx context.Context, c *config.Config) error {
		m, err := stage1.ConfiguredManifest(c.Stage1Name, c.UpstreamStage1Version, release, c.UpstreamStage1ACI != "")
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(append(m, '\n'))
		return err
	})
}
