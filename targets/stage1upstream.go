package targets

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/stage1"
	"github.com/rktbuild/rktbuild/stage1/upstream"
	"github.com/rktbuild/rktbuild/step"
)

// UpstreamBuild is the S1B_UPSTREAM_STAGE1_KVM_ACI value that builds the
// upstream stage1-kvm from source instead of reading a file.
const UpstreamBuild = "build"

// upstreamTools are what building the from-source stage1 runs.
var upstreamTools = []step.Tool{
	{Command: "go", Package: "golang-go", VersionArgs: []string{"version"}},
	{Command: "gcc", Package: "gcc", VersionArgs: []string{"--version"}},
	{Command: "apt-get", Package: "apt", VersionArgs: []string{"--version"}},
	{Command: "dpkg-deb", Package: "dpkg", VersionArgs: []string{"--version"}},
}

// stage1SrcE2ETools are what the from-source stage1's end-to-end test
// needs besides the build: rkt's kvm networking (iptables, ip, unshare)
// and the probe app's static busybox.
var stage1SrcE2ETools = []step.Tool{
	{Command: "iptables", Package: "iptables", VersionArgs: []string{"--version"}},
	{Command: "ip", Package: "iproute2", VersionArgs: []string{"-V"}},
	{Command: "unshare", Package: "util-linux", VersionArgs: []string{"--version"}},
	{Command: "busybox", Package: "busybox-static", VersionArgs: []string{"--help"}},
}

// Upstream builds rkt 1.30.0's stage1-kvm from source and Debian parts.
//
// rkt's stage1 programs come from the github.com/rkt/rkt module (Go module
// proxy, checksum database; pins in stage1/upstream), systemd, bash, mount,
// coreutils bits, iproute2, openssh, qemu and its firmware from the
// distribution's signed packages (a private apt configuration derived from
// the host's sources). The image, coreos.com/rkt/stage1-kvm version
// 1.30.0 with no kernel, is written to
// S1B_OUT_DIR/rkt-stage1-kvm-1.30.0-src.aci and signed with SIGNING_KEY.
// S1B_STAGE1_QEMU_ACCEL sets its /qemu's accelerator (auto, kvm, tcg).
// buildStage1 flattens onto it when S1B_UPSTREAM_STAGE1_KVM_ACI=build.
func (Stage1) Upstream(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	start := time.Now()
	b, err := buildUpstream(ctx, c)
	if err != nil || b == nil || step.IsDryRun() {
		return err
	}
	step.Printf("built %s with id %s in %s\n", b.File, b.ID, time.Since(start).Round(time.Second))
	return nil
}

func buildUpstream(ctx context.Context, c *config.Config) (*upstream.Built, error) {
	rkt, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return nil, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	if err := upstream.CheckAccel(c.Stage1QemuAccel); err != nil {
		return nil, err
	}
	if err := step.Need(ctx, upstreamTools...); err != nil {
		return nil, err
	}
	epoch, has, err := c.Epoch()
	if err != nil {
		return nil, err
	}
	if !step.IsDryRun() && !keyPairExists(c.SigningKey) {
		if _, _, err := sign.EnsureKey(c); err != nil {
			return nil, err
		}
	}
	return upstream.Build(ctx, upstream.Options{
		Rkt:        rkt,
		WorkDir:    filepath.Join(c.BuildDir, "stage1-upstream"),
		RktWorkDir: filepath.Join(c.BuildDir, "rkt"),
		OutDir:     c.OutDir,
		Accel:      c.Stage1QemuAccel,
		Pack:       aci.PackOptions{Epoch: epoch, HasEpoch: has, ForceRoot: true},
		Sign: func(ctx context.Context, file string) error {
			return sign.SignArtifact(c, file)
		},
		SignInputs: signInputs(c),
	})
}
