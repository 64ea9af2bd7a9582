package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
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

var kernelTools = []step.Tool{
	{Command: "make", Package: "make", VersionArgs: []string{"--version"}},
	{Command: "gcc", Package: "gcc", VersionArgs: []string{"--version"}},
	{Command: "flex", Package: "flex", VersionArgs: []string{"--version"}},
	{Command: "bison", Package: "bison", VersionArgs: []string{"--version"}},
	{Command: "bc", Package: "bc", VersionArgs: []string{"--version"}},
	{Command: "xz", Package: "xz-utils", VersionArgs: []string{"--version"}},
	{Command: "patch", Package: "patch", VersionArgs: []string{"--version"}},
	{Command: "tar", Package: "tar", VersionArgs: []string{"--version"}},
	{Command: "rsync", Package: "rsync", VersionArgs: []string{"--version"}},
	{Command: "perl", Package: "perl", VersionArgs: []string{"-v"}},
	{Command: "go", Package: "golang-go", VersionArgs: []string{"version"}},
}

// ccacheTool makes kernel rebuilds incremental across fragment, patch and
// suffix changes (S1B_CCACHE=auto uses it when installed; setup installs
// it).
var ccacheTool = step.Tool{Command: "ccache", Package: "ccache", VersionArgs: []string{"--version"}}

var qemuTool = step.Tool{Command: "qemu-system-x86_64", Package: "qemu-system-x86", VersionArgs: []string{"--version"}}

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

// needKernelTools checks the host tools and the libelf headers objtool
// needs for x86_64 kernels.
func needKernelTools(ctx context.Context) error {
	if err := step.Need(ctx, kernelTools...); err != nil {
		return err
	}
	if _, err := os.Stat("/usr/include/gelf.h"); err != nil && !step.IsDryRun() {
		if os.Geteuid() == 0 {
			return step.InstallPackages(ctx, "libelf-dev")
		}
		return fmt.Errorf("missing libelf headers (/usr/include/gelf.h) that the kernel's objtool needs: run `sudo apt-get install libelf-dev`")
	}
	return nil
}

// buildKernel builds the configured kernel (a no-op when up to date).
func buildKernel(ctx context.Context, c *config.Config) (*kernel.Result, error) {
	if err := needKernelTools(ctx); err != nil {
		return nil, err
	}
	o, err := kernelOptions(c)
	if err != nil {
		return nil, err
	}
	return kernel.Build(ctx, o)
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
	c, err := load()
	if err != nil {
		return err
	}
	b, err := buildStage1(ctx, c)
	if err != nil || b == nil {
		return err
	}
	if step.IsDryRun() {
		step.Printf("dry run: %s was not rebuilt\n", b.File)
		return nil
	}
	step.Printf("built %s with id %s\n", b.File, b.ID)
	ociSkipStage1(b.File)
	return nil
}

func buildStage1(ctx context.Context, c *config.Config) (*stage1.Built, error) {
	rkt, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return nil, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	k, err := buildKernel(ctx, c)
	if err != nil {
		return nil, err
	}
	if step.IsDryRun() && k.Release == "" {
		return nil, nil
	}
	epoch, has, err := c.Epoch()
	if err != nil {
		return nil, err
	}
	if !has && k.Epoch.Unix != 0 {
		// No SOURCE_DATE_EPOCH: the one the kernel build derived from its
		// source (printed there) also clamps the image's mtimes.
		epoch, has = k.Epoch.Unix, true
	}
	if !step.IsDryRun() {
		// Create the signing key before the pack step hashes its inputs,
		// so generating it on first use does not re-sign on the next run.
		// (Only existence matters here: reading the key verifies its
		// self-signature, which a no-op run need not pay for.)
		if !keyPairExists(c.SigningKey) {
			if _, _, err := sign.EnsureKey(c); err != nil {
				return nil, err
			}
		}
	}
	upstreamACI := c.UpstreamStage1ACI
	if upstreamACI == UpstreamBuild {
		u, err := buildUpstream(ctx, c)
		if err != nil {
			return nil, err
		}
		if u == nil { // dry run
			return nil, nil
		}
		upstreamACI = u.File
	}
	return stage1.Build(ctx, stage1.Options{
		Kernel:      k,
		Rkt:         rkt,
		Name:        c.Stage1Name,
		OutDir:      c.OutDir,
		WorkDir:     filepath.Join(c.BuildDir, "stage1"),
		UpstreamACI: upstreamACI,
		Pack:        aci.PackOptions{Epoch: epoch, HasEpoch: has, ForceRoot: true},
		Sign: func(ctx context.Context, file string) error {
			return sign.SignArtifact(c, file)
		},
		SignInputs: signInputs(c),
	})
}

// signInputs are the files whose change must re-sign: the key pair.
func signInputs(c *config.Config) []string {
	return sign.KeyFiles(c.SigningKey)
}

// Build builds the configured kernel and headers, without packing.
//
// It builds the configured kernel and its headers without packing a
// stage1 image (see buildStage1 for the configuration keys it reads), and
// prints the kernel release and image path.
func (Kernel) Build(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	k, err := buildKernel(ctx, c)
	if err != nil || step.IsDryRun() {
		return err
	}
	step.Printf("kernel %s: %s (headers in %s)\n", k.Release, k.Image, k.Headers)
	return nil
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
	c, err := load()
	if err != nil {
		return err
	}
	if err := step.Need(ctx, qemuTool); err != nil {
		return err
	}
	b, err := buildStage1(ctx, c)
	if err != nil || b == nil || step.IsDryRun() {
		return err
	}
	rkt, _ := stage1.ParseRktVersion(c.UpstreamStage1Version)
	res, err := stage1.Smoke(ctx, stage1.SmokeOptions{
		Kernel:  filepath.Join(b.Rootfs, stage1.KernelPath(rkt)),
		WorkDir: filepath.Join(c.BuildDir, "stage1", "smoke"),
		Accel:   c.QemuAccel,
	})
	if err != nil {
		return err
	}
	step.Printf("smoke: kernel %s booted with rkt's 9p device model (accel %s): boot time (qemu start to the init's marker) %s, powered off after %s; console log %s\n",
		res.Release, c.QemuAccel, res.Boot.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond), res.Console)
	return nil
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
	c, err := load()
	if err != nil {
		return err
	}
	rkt, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	m, err := stage1.NewManifest(stage1.ManifestOptions{Name: c.Stage1Name, Rkt: rkt, KernelRelease: release, Flattened: c.UpstreamStage1ACI != ""})
	if err != nil {
		return err
	}
	b, err := aci.MarshalManifest(m)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}

// keyPairExists reports whether both halves of the signing key base exist.
func keyPairExists(base string) bool {
	for _, suffix := range []string{sign.PrivateKeySuffix, sign.PublicKeySuffix} {
		if _, err := os.Stat(base + suffix); err != nil {
			return false
		}
	}
	return true
}
