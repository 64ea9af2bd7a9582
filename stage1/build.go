package stage1

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/appc/spec/schema"
	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/step"
)

// Options configure Build.
type Options struct {
	Kernel      *kernel.Result
	Rkt         RktVersion
	Name        string // S1B_STAGE1_NAME
	OutDir      string // S1B_OUT_DIR
	WorkDir     string // <S1B_BUILD_DIR>/stage1
	UpstreamACI string // S1B_UPSTREAM_STAGE1_KVM_ACI: flatten when set
	Pack        aci.PackOptions
	// Sign writes file.asc; SignInputs are the files it depends on (the
	// signing key), so a new key re-signs.
	Sign       func(ctx context.Context, file string) error
	SignInputs []string
}

// FileName is the output name: stage1-kvm-<rktver>-linux-<release>.aci.
func FileName(rkt RktVersion, release string) string {
	return fmt.Sprintf("stage1-kvm-%s-linux-%s.aci", rkt, release)
}

// Built describes the stage1 image.
type Built struct {
	File, ID string
	Rootfs   string // the assembled layer
	Manifest *schema.ImageManifest
}

// Build assembles, packs, validates and signs the stage1 image. Each part
// is a step, so with unchanged inputs it does no work.
func Build(ctx context.Context, o Options) (*Built, error) {
	k := o.Kernel
	if k == nil {
		return nil, fmt.Errorf("stage1: no kernel")
	}
	if o.WorkDir == "" {
		o.WorkDir = filepath.Join("build", "stage1")
	}
	mkdirBin := filepath.Join(o.WorkDir, "tools", "mkdir")
	// The go toolchain is identified by its binary's content (a cached
	// hash: a stat on no-op runs) rather than by running `go env`.
	goVersion := runtime.Version()
	if p, err := exec.LookPath("go"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if h, err := step.HashFile(ctx, real); err == nil {
				goVersion = h
			}
		}
	}
	_, err := step.Do(ctx, step.Step{
		Name:    "stage1:mkdir",
		Inputs:  step.Inputs{Values: map[string]string{"source": string(mkdirSource), "go": goVersion}},
		Outputs: []string{mkdirBin},
		Run:     func(ctx context.Context) error { return BuildStatic(ctx, Mkdir, mkdirBin) },
	})
	if err != nil {
		return nil, err
	}

	id := fmt.Sprintf("%s-%s", o.Rkt, k.Release)
	rootfs := filepath.Join(o.WorkDir, id, "rootfs")
	_, err = step.Do(ctx, step.Step{
		Name:    "stage1:rootfs:" + id,
		Inputs:  step.Inputs{Files: []string{k.Image, k.Headers, mkdirBin}, Values: map[string]string{"rkt": o.Rkt.String(), "release": k.Release}},
		Outputs: []string{rootfs},
		Run: func(ctx context.Context) error {
			return fsutil.ReplaceDir(rootfs, func(tmp string) error {
				return AssembleRootfs(tmp, RootfsOptions{Rkt: o.Rkt, KernelImage: k.Image, KernelRelease: k.Release, Headers: k.Headers, Mkdir: mkdirBin})
			})
		},
	})
	if err != nil {
		return nil, err
	}

	m, err := NewManifest(ManifestOptions{Name: o.Name, Rkt: o.Rkt, KernelRelease: k.Release, Flattened: o.UpstreamACI != "", KernelSource: &k.Source})
	if err != nil {
		return nil, err
	}
	mbytes, err := aci.MarshalManifest(m)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(o.OutDir, FileName(o.Rkt, k.Release))
	idFile := filepath.Join(o.WorkDir, id, "image-id")
	inputs := append([]string{rootfs}, o.SignInputs...)
	if o.UpstreamACI != "" {
		inputs = append(inputs, o.UpstreamACI)
	}
	outputs := []string{out, idFile}
	if o.Sign != nil {
		outputs = append(outputs, out+".asc")
	}
	_, err = step.Do(ctx, step.Step{
		Name: "stage1:pack:" + id,
		Inputs: step.Inputs{Files: inputs, Values: map[string]string{
			"manifest": string(mbytes), "pack": fmt.Sprintf("%+v", packKey(o.Pack)), "signed": fmt.Sprint(o.Sign != nil)}},
		Outputs: outputs,
		Run: func(ctx context.Context) error {
			if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
				return err
			}
			var imageID string
			var err error
			if o.UpstreamACI != "" {
				imageID, err = packFlattened(ctx, o, m, rootfs, out)
			} else {
				imageID, err = aci.PackRootfs(ctx, m, rootfs, out, o.Pack)
			}
			if err != nil {
				return err
			}
			if err := aci.Validate(out); err != nil {
				_ = os.Remove(out)
				return fmt.Errorf("the stage1 image failed validation (removed): %w", err)
			}
			if o.Sign != nil {
				if err := o.Sign(ctx, out); err != nil {
					return err
				}
			}
			return fsutil.WriteFileBytes(idFile, []byte(imageID+"\n"), 0o644)
		},
	})
	if err != nil {
		return nil, err
	}
	idb, err := os.ReadFile(idFile)
	if err != nil {
		return nil, err
	}
	return &Built{File: out, ID: strings.TrimSpace(string(idb)), Rootfs: rootfs, Manifest: m}, nil
}

// packKey is the part of PackOptions that changes the bytes.
func packKey(p aci.PackOptions) aci.PackOptions { p.Progress = nil; return p }

// packFlattened renders the upstream stage1 and our layer into one image:
// upstream's rootfs with ours on top (ours wins, as rkt renders the top
// image's files first), no dependency. The upstream image must be the rkt
// version we build for, since the annotations and kernel path depend on it.
func packFlattened(ctx context.Context, o Options, m *schema.ImageManifest, rootfs, out string) (string, error) {
	if err := aci.Validate(o.UpstreamACI); err != nil {
		return "", fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_ACI: %w", err)
	}
	um, err := aci.ReadManifest(o.UpstreamACI)
	if err != nil {
		return "", fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_ACI: %w", err)
	}
	if err := CheckUpstream(um, o.Rkt); err != nil {
		return "", fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_ACI=%s: %w", o.UpstreamACI, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(rootfs), "flatten-")
	if err != nil {
		return "", err
	}
	defer fsutil.RemoveAll(tmp)
	up := filepath.Join(tmp, "upstream")
	if err := aci.Extract(ctx, o.UpstreamACI, up); err != nil {
		return "", fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_ACI: %w", err)
	}
	merged := filepath.Join(up, "rootfs")
	if err := CheckLayout(merged, rootfs); err != nil {
		return "", fmt.Errorf("flattening onto S1B_UPSTREAM_STAGE1_KVM_ACI=%s: %w", o.UpstreamACI, err)
	}
	if err := cp.Copy(rootfs, merged, cp.Options{OnSymlink: func(string) cp.SymlinkAction { return cp.Shallow }}); err != nil {
		return "", fmt.Errorf("flattening: %w", err)
	}
	return aci.PackRootfs(ctx, m, merged, out, o.Pack)
}

// CheckUpstream checks that an upstream stage1 manifest is rkt's
// stage1-kvm for version v and that its stage1 annotations are the ones
// Annotations(v) describes.
func CheckUpstream(um *schema.ImageManifest, v RktVersion) error {
	if um.Name.String() != UpstreamName {
		return fmt.Errorf("image is %s, expected %s", um.Name, UpstreamName)
	}
	if got, _ := um.GetLabel("version"); strings.TrimPrefix(got, "v") != v.String() {
		return fmt.Errorf("image has version %q, but S1B_UPSTREAM_STAGE1_KVM_VERSION is %s: use the matching image or version", got, v)
	}
	for _, a := range Annotations(v) {
		got, ok := um.Annotations.Get(a.Name.String())
		if !ok || got != a.Value {
			return fmt.Errorf("annotation %s is %q, expected %q for rkt %s", a.Name, got, a.Value, v)
		}
	}
	return nil
}
