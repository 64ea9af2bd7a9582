// Package upstream builds an equivalent of rkt's own stage1-kvm image
// (coreos.com/rkt/stage1-kvm) from source: rkt's stage1 programs built from
// the github.com/rkt/rkt module, and systemd, bash, mount, coreutils bits,
// iproute2, openssh and qemu with its firmware from the distribution's
// signed packages, with their libraries gathered by following the
// programs' needed-library lists. rkt's prebuilt images took these parts
// from CoreOS images that no longer exist; this image needs nothing from
// rkt's release infrastructure. Package stage1 flattens its kernel layer
// onto it, or depends on it.
//
// Differences from rkt's own 1.30.0 image: the distribution's systemd and
// qemu (dynamically linked; /qemu is a static wrapper that runs qemu with
// the rootfs's loader and libraries, falls back to TCG where KVM cannot be
// used and to vhost=off without /dev/vhost-net), no lkvm, no kernel (the
// top layer brings it), and a drop-in that mounts /dev/pts with
// ptmxmode=0666 for modern qemu's 9p.
package upstream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/nspawn/static"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/stage1"
	"github.com/rktbuild/rktbuild/step"
)

// Options configure Build.
type Options struct {
	Rkt     stage1.RktVersion
	WorkDir string // <S1B_BUILD_DIR>/stage1-upstream
	// RktWorkDir is where rkt.Source keeps rkt's tree (default build/rkt,
	// shared with the rkt test tool).
	RktWorkDir string
	OutDir     string // where the image is written
	// Accel is the /qemu wrapper's default accelerator: auto (KVM when
	// /dev/kvm can be used, else TCG), kvm or tcg.
	Accel  string
	Debian DebianOptions // Dir defaults to WorkDir/debian
	Pack   aci.PackOptions
	// Sign writes file.asc; SignInputs are the files it depends on.
	Sign       func(ctx context.Context, file string) error
	SignInputs []string
}

// Recipe names the build recipe of the programs and the rootfs: bump it
// when BuildRktPrograms or Assemble change what they produce, so the
// steps run again (their other inputs are values and files, not code).
const Recipe = "2: absolute program output dir; explicit program and plugin lists"

// Built describes the image.
type Built struct {
	File, ID string
	Rootfs   string
	// Versions are the distribution packages used ("name version").
	Versions []string
}

// FileName is the image's file name: rkt-stage1-kvm-<rktver>-src.aci.
func FileName(v stage1.RktVersion) string {
	return fmt.Sprintf("rkt-stage1-kvm-%s-src.aci", v)
}

// CheckAccel checks an accelerator setting.
func CheckAccel(a string) error {
	switch a {
	case "auto", "kvm", "tcg":
		return nil
	}
	return fmt.Errorf("S1B_STAGE1_QEMU_ACCEL=%q: expected auto (KVM when usable, else TCG), kvm or tcg", a)
}

// Build builds the image; each part is a step, so a rebuild with unchanged
// inputs does no work.
func Build(ctx context.Context, o Options) (*Built, error) {
	if o.Rkt != (stage1.RktVersion{Major: 1, Minor: 30, Patch: 0}) {
		return nil, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION=%s: building stage1-kvm from source is supported for rkt 1.30.0 only (the module pins are for that release); use 1.30.0 or give rkt's own image as S1B_UPSTREAM_STAGE1_KVM_ACI", o.Rkt)
	}
	if o.Accel == "" {
		o.Accel = "auto"
	}
	if err := CheckAccel(o.Accel); err != nil {
		return nil, err
	}
	if o.WorkDir == "" {
		o.WorkDir = filepath.Join("build", "stage1-upstream")
	}
	if o.Debian.Dir == "" {
		o.Debian.Dir = filepath.Join(o.WorkDir, "debian")
	}
	goVersion := runtime.Version()
	if v, err := step.Output(ctx, "go", "env", "GOVERSION"); err == nil {
		goVersion = strings.TrimSpace(v)
	}
	version := "v" + o.Rkt.String()
	if version != rkt.Version {
		return nil, fmt.Errorf("rkt module version %s does not match %s", rkt.Version, version)
	}

	src, err := rkt.Source(ctx, rkt.Options{WorkDir: o.RktWorkDir})
	if err != nil {
		return nil, err
	}
	deps, err := rkt.Dependencies()
	if err != nil {
		return nil, err
	}
	gomod := string(rkt.GoMod(deps))

	progs := filepath.Join(o.WorkDir, "programs")
	_, err = step.Do(ctx, step.Step{
		Name: "stage1-upstream:programs",
		Inputs: step.Inputs{Values: map[string]string{"version": version, "go.mod": gomod, "go": goVersion,
			"programs": fmt.Sprint(GoPrograms, CgoPrograms, NetPlugins, CPrograms), "recipe": Recipe}},
		Outputs: []string{progs},
		Run: func(ctx context.Context) error {
			return fsutil.ReplaceDir(progs, func(tmp string) error {
				return BuildRktPrograms(ctx, src, o.Rkt.String(), tmp)
			})
		},
	})
	if err != nil {
		return nil, err
	}

	debSrc, _, err := DebSources(o.Debian)
	if err != nil {
		return nil, err
	}
	staging := filepath.Join(o.WorkDir, "packages")
	versionsFile := filepath.Join(o.WorkDir, "package-versions")
	_, err = step.Do(ctx, step.Step{
		Name:    "stage1-upstream:packages",
		Inputs:  step.Inputs{Values: map[string]string{"packages": strings.Join(Packages, " "), "sources": string(static.FormatDeb822(debSrc))}},
		Outputs: []string{staging, versionsFile},
		Run: func(ctx context.Context) error {
			var versions []string
			err := fsutil.ReplaceDir(staging, func(tmp string) error {
				var err error
				versions, err = FetchDebian(ctx, o.Debian, tmp)
				return err
			})
			if err != nil {
				return err
			}
			return fsutil.WriteFileBytes(versionsFile, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
		},
	})
	if err != nil {
		return nil, err
	}

	wrapper := filepath.Join(o.WorkDir, "tools", "qemu")
	_, err = step.Do(ctx, step.Step{
		Name:    "stage1-upstream:qemu-wrapper",
		Inputs:  step.Inputs{Values: map[string]string{"source": string(stage1.QemuWrap.Source), "go": goVersion}},
		Outputs: []string{wrapper},
		Run:     func(ctx context.Context) error { return stage1.BuildStatic(ctx, stage1.QemuWrap, wrapper) },
	})
	if err != nil {
		return nil, err
	}

	rootfs := filepath.Join(o.WorkDir, "rootfs")
	_, err = step.Do(ctx, step.Step{
		Name: "stage1-upstream:rootfs",
		Inputs: step.Inputs{Files: []string{progs, versionsFile, wrapper}, Values: map[string]string{
			"picks": strings.Join(Picks, " "), "firmware": strings.Join(Firmware, " "), "accel": o.Accel, "recipe": Recipe,
			"files": fmt.Sprint(RktFiles, Symlinks, Dirs, PtmxDropIn)}},
		Outputs: []string{rootfs},
		Run: func(ctx context.Context) error {
			return fsutil.ReplaceDir(rootfs, func(tmp string) error {
				return Assemble(tmp, AssembleOptions{RktSource: src, Programs: progs, Staging: staging, VersionsFile: versionsFile, Wrapper: wrapper, Accel: o.Accel})
			})
		},
	})
	if err != nil {
		return nil, err
	}

	m, err := Manifest(o.Rkt)
	if err != nil {
		return nil, err
	}
	mbytes, err := aci.MarshalManifest(m)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(o.OutDir, FileName(o.Rkt))
	idFile := filepath.Join(o.WorkDir, "image-id")
	outputs := []string{out, idFile}
	if o.Sign != nil {
		outputs = append(outputs, out+".asc")
	}
	_, err = step.Do(ctx, step.Step{
		Name: "stage1-upstream:pack",
		Inputs: step.Inputs{Files: append([]string{rootfs}, o.SignInputs...), Values: map[string]string{
			"manifest": string(mbytes), "pack": fmt.Sprintf("%+v", packKey(o.Pack)), "signed": fmt.Sprint(o.Sign != nil)}},
		Outputs: outputs,
		Run: func(ctx context.Context) error {
			if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
				return err
			}
			id, err := aci.PackRootfs(ctx, m, rootfs, out, o.Pack)
			if err != nil {
				return err
			}
			if err := aci.Validate(out); err != nil {
				_ = os.Remove(out)
				return fmt.Errorf("the from-source stage1-kvm failed validation (removed): %w", err)
			}
			if o.Sign != nil {
				if err := o.Sign(ctx, out); err != nil {
					return err
				}
			}
			return fsutil.WriteFileBytes(idFile, []byte(id+"\n"), 0o644)
		},
	})
	if err != nil {
		return nil, err
	}
	idb, err := os.ReadFile(idFile)
	if err != nil {
		return nil, err
	}
	vb, _ := os.ReadFile(versionsFile)
	return &Built{File: out, ID: strings.TrimSpace(string(idb)), Rootfs: rootfs, Versions: strings.Fields(strings.ReplaceAll(string(vb), " ", "="))}, nil
}

func packKey(p aci.PackOptions) aci.PackOptions { p.Progress = nil; return p }

// AssembleOptions are the parts Assemble puts together.
type AssembleOptions struct {
	RktSource    string // rkt's source tree
	Programs     string // BuildRktPrograms' output
	Staging      string // FetchDebian's output
	VersionsFile string // "name version" lines of the packages
	Wrapper      string // the static /qemu wrapper
	Accel        string // the wrapper's default accelerator
}

// Assemble fills dir (which must exist and be empty) with the stage1
// rootfs.
func Assemble(dir string, o AssembleOptions) error {
	for _, s := range Symlinks {
		p := filepath.Join(dir, s[0])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(s[1], p); err != nil {
			return err
		}
	}
	for _, d := range append([]string{"usr/lib", "usr/lib64", "usr/bin", "usr/sbin"}, Dirs...) {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// The distribution's programs and their libraries.
	picks, err := ExpandPicks(o.Staging, Picks)
	if err != nil {
		return err
	}
	c := &Copier{From: o.Staging, To: dir}
	for _, p := range picks {
		if err := c.Copy(p); err != nil {
			return fmt.Errorf("stage1 rootfs: %w", err)
		}
	}
	for _, f := range Firmware {
		p, err := FindFirmware(o.Staging, f)
		if err != nil {
			return err
		}
		if err := fsutil.CopyFile(p, filepath.Join(dir, f), 0o644); err != nil {
			return err
		}
	}
	// rkt's programs at the top level, the CNI plugins, the wrapper.
	var names []string
	for _, p := range GoPrograms {
		names = append(names, filepath.Base(p))
	}
	for name := range CPrograms {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := fsutil.CopyFile(filepath.Join(o.Programs, name), filepath.Join(dir, name), 0o755); err != nil {
			return fmt.Errorf("rkt's stage1 program %s: %w", name, err)
		}
	}
	plugins := filepath.Join(dir, "usr/lib/rkt/plugins/net")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return err
	}
	for _, p := range NetPlugins {
		name := filepath.Base(p)
		if err := fsutil.CopyFile(filepath.Join(o.Programs, "plugins", name), filepath.Join(plugins, name), 0o755); err != nil {
			return fmt.Errorf("CNI plugin %s: %w", name, err)
		}
	}
	if err := fsutil.CopyFile(o.Wrapper, filepath.Join(dir, "qemu"), 0o755); err != nil {
		return err
	}
	// rkt's files and units.
	for _, f := range RktFiles {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f[1], ".sh") {
			mode = 0o755
		}
		p := filepath.Join(dir, f[1])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := fsutil.CopyFile(filepath.Join(o.RktSource, "stage1", f[0]), p, mode); err != nil {
			return fmt.Errorf("rkt's %s: %w", f[0], err)
		}
	}
	units, err := filepath.Glob(filepath.Join(o.RktSource, "stage1", "units", "units", "*"))
	if err != nil {
		return err
	}
	sort.Strings(units)
	for _, u := range units {
		if err := fsutil.CopyFile(u, filepath.Join(dir, UnitsDir, filepath.Base(u)), 0o644); err != nil {
			return err
		}
	}
	// The systemd version rkt reads, the drop-in and the wrapper's config.
	vb, err := os.ReadFile(o.VersionsFile)
	if err != nil {
		return err
	}
	sv := ""
	for _, line := range strings.Split(string(vb), "\n") {
		if name, v, ok := strings.Cut(line, " "); ok && name == "systemd" {
			if sv, err = SystemdVersion(v); err != nil {
				return err
			}
		}
	}
	if sv == "" {
		return fmt.Errorf("no systemd among the packages in %s", o.VersionsFile)
	}
	files := map[string]string{
		"systemd-version": sv + "\n",
		PtmxDropInPath:    PtmxDropIn,
		QemuConfPath:      "# accel: auto (KVM when /dev/kvm can be used, else TCG), kvm or tcg.\n# RKTBUILD_QEMU_ACCEL in the environment overrides it.\naccel=" + o.Accel + "\n",
	}
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
