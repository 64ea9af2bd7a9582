package rkt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/appc/spec/schema/types"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/step"
)

// Stage1FlyName is the image name of rkt's fly stage1
// (stage1_fly/aci/aci-manifest.in).
const Stage1FlyName = "coreos.com/rkt/stage1-fly"

// Stage1FlyFile is the fly stage1's file name next to the rkt binary,
// where stage0 finds it by default (buildDefaultStage1ImageInRktDir).
const Stage1FlyFile = "stage1-fly.aci"

// stage1Epoch is the mtime recorded in the fly stage1 ACI (rkt v1.30.0's
// release day), so the same programs always pack to the same image ID.
var stage1Epoch = time.Date(2018, 4, 13, 0, 0, 0, 0, time.UTC).Unix()

// Tools are the built rkt programs.
type Tools struct {
	// Rkt is stage0, the rkt command.
	Rkt string
	// Stage1Fly is the fly stage1 ACI, beside Rkt.
	Stage1Fly string
	// Ran reports whether anything was rebuilt.
	Ran bool
}

// LDFlags returns the -X settings rkt's configure passes for a build
// whose default stage1 is the fly image beside the rkt binary (configure
// --with-stage1-flavors=fly, no TPM, no systemd journal support).
func LDFlags() string {
	ver := strings.TrimPrefix(Version, "v")
	vars := [][2]string{
		{Module + "/version.Version", ver},
		{"main.buildDefaultStage1Name", Stage1FlyName},
		{"main.buildDefaultStage1Version", ver},
		{"main.buildDefaultStage1ImageLoc", ""},
		{"main.buildDefaultStage1ImageInRktDir", Stage1FlyFile},
		{"main.buildDefaultStage1ImagesDir", "/usr/lib/rkt/stage1-images"},
		{"main.rktFeatures", "-TPM -SDJOURNAL"},
	}
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "-X '%s=%s' ", v[0], v[1])
	}
	return strings.TrimSpace(b.String())
}

// flyPrograms are stage1_fly's programs, installed at the root of the
// stage1 rootfs under their directory names.
var flyPrograms = []string{"run", "enter", "gc", "stop"}

// Build prepares the source (Source) and builds stage0 rkt (CGO_ENABLED=0,
// tag selinux, configure's -X variables) and the fly stage1 ACI (cgo; needs
// libacl1-dev) into WorkDir/bin. Both steps are cached by their inputs.
func Build(ctx context.Context, o Options) (Tools, error) {
	o = o.withDefaults()
	src, err := Source(ctx, o)
	if err != nil {
		return Tools{}, err
	}
	bin := filepath.Join(o.WorkDir, "bin")
	t := Tools{Rkt: filepath.Join(bin, "rkt"), Stage1Fly: filepath.Join(bin, Stage1FlyFile)}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return Tools{}, err
	}
	common := map[string]string{
		"module":     Module + "@" + Version,
		"go.mod":     string(gomod),
		"go version": goVersion(ctx, o.Go),
	}
	stage0 := map[string]string{"ldflags": LDFlags(), "tags": "selinux", "cgo": "0"}
	for k, v := range common {
		stage0[k] = v
	}
	res, err := step.Do(ctx, step.Step{
		Name:     "rkt:stage0",
		StampDir: filepath.Join(o.WorkDir, ".stamps"),
		Inputs:   step.Inputs{Values: stage0},
		Outputs:  []string{t.Rkt},
		Run: func(ctx context.Context) error {
			return goBuild(ctx, o, src, t.Rkt, []string{"CGO_ENABLED=0"}, "-tags", "selinux", "-ldflags", LDFlags(), "./rkt")
		},
	})
	if err != nil {
		return Tools{}, fmt.Errorf("building rkt stage0: %w", err)
	}
	t.Ran = res.Ran
	fly := map[string]string{"programs": strings.Join(flyPrograms, " "), "cgo": "1", "manifest": string(mustManifest())}
	for k, v := range common {
		fly[k] = v
	}
	res, err = step.Do(ctx, step.Step{
		Name:     "rkt:stage1-fly",
		StampDir: filepath.Join(o.WorkDir, ".stamps"),
		Inputs:   step.Inputs{Values: fly},
		Outputs:  []string{t.Stage1Fly},
		Run: func(ctx context.Context) error {
			return buildFly(ctx, o, src, t.Stage1Fly)
		},
	})
	if err != nil {
		return Tools{}, fmt.Errorf("building rkt's fly stage1: %w", err)
	}
	t.Ran = t.Ran || res.Ran
	return t, nil
}

// goBuild builds pkg into out atomically (a temporary name in out's
// directory, then a rename).
func goBuild(ctx context.Context, o Options, src, out string, env []string, args ...string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	defer os.Remove(tmp)
	argv := append([]string{"build", "-trimpath", "-o", tmp}, args...)
	if err := (step.Cmd{Dir: src, Env: append(BuildEnv(), env...), Jobs: 1}).Run(ctx, o.Go, argv...); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// FlyManifest returns the fly stage1's image manifest: rkt's
// stage1_fly/aci/aci-manifest.in with version and arch filled in.
func FlyManifest() ([]byte, error) {
	m, err := aci.NewManifest(Stage1FlyName, map[string]string{"version": strings.TrimPrefix(Version, "v")})
	if err != nil {
		return nil, err
	}
	for _, a := range [][2]string{
		{"coreos.com/rkt/stage1/run", "/run"},
		{"coreos.com/rkt/stage1/enter", "/enter"},
		{"coreos.com/rkt/stage1/gc", "/gc"},
		{"coreos.com/rkt/stage1/stop", "/stop"},
		{"coreos.com/rkt/stage1/interface-version", "5"},
	} {
		m.Annotations.Set(types.ACIdentifier(a[0]), a[1])
	}
	return aci.MarshalManifest(m)
}

func mustManifest() []byte {
	b, err := FlyManifest()
	if err != nil {
		panic(err) // constant input: a failure is a programming error
	}
	return b
}

// buildFly builds stage1_fly's programs into a rootfs laid out like rkt's
// stage1_fly/aci/aci.mk (/rkt/status, /opt/stage2, /flavor -> fly) and
// packs it.
func buildFly(ctx context.Context, o Options, src, out string) error {
	work, err := os.MkdirTemp(filepath.Dir(out), ".stage1-fly-*")
	if err != nil {
		return err
	}
	defer fsutil.RemoveAll(work)
	rootfs := filepath.Join(work, "rootfs")
	for _, d := range []string{"rkt/status", "opt/stage2"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Symlink("fly", filepath.Join(rootfs, "flavor")); err != nil {
		return err
	}
	for _, p := range flyPrograms {
		if err := goBuild(ctx, o, src, filepath.Join(rootfs, p), []string{"CGO_ENABLED=1"}, "./stage1_fly/"+p); err != nil {
			return fmt.Errorf("stage1_fly/%s (needs cgo, gcc and libacl1-dev): %w", p, err)
		}
	}
	mb, err := FlyManifest()
	if err != nil {
		return err
	}
	m, err := aci.ParseManifest("fly manifest", mb)
	if err != nil {
		return err
	}
	_, err = aci.PackRootfs(ctx, m, rootfs, out, aci.PackOptions{Epoch: stage1Epoch, HasEpoch: true, ForceRoot: true})
	return err
}

// Summary is the one-line report of a build that took took.
func (t Tools) Summary(took time.Duration) string {
	state := "up to date"
	if t.Ran {
		state = "built in " + took.Round(time.Second).String()
	}
	return fmt.Sprintf("rkt: %s and %s %s", t.Rkt, t.Stage1Fly, state)
}
