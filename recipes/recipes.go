// Package recipes holds rktbuild's image recipes and their pipeline: the
// set of recipes and the order they build in, and what works on the
// images they make: the locator (Locator: files, recipe outputs, the
// store), running (RunImage), repackaging and OCI export. Package image is
// the builder one recipe uses (one image: write a tree as a signed ACI,
// render and run it). Recipes come one short Go file per
// image, built as an ordered set like the original numbered scripts
// (00-base, 10-go-builder, ...). A recipe registers itself in an init
// function; Resolve returns recipes plus what they depend on, in order.
//
// To add an image, add a file NN-name.go with:
//
//	func init() {
//		Register(Recipe{
//			Order: 20, Name: "my-tool", Deps: []string{"base"},
//			File: func(s *Settings) string { return filepath.Join(s.ACIDir, "my-tool-linux-amd64.aci") },
//			Build: func(ctx context.Context, e *Env, out string) error {
//				b, err := e.FromImage(ctx, "base", e.Settings.Registry+"/my-tool")
//				... b.AptInstall(ctx, "my-tool"); b.SetExec("/usr/bin/my-tool")
//				return e.Write(ctx, b, out)
//			},
//		})
//	}
//
// Recipes read Settings, which the command layer maps from the
// configuration (targets/options.go); Inputs, when set, adds what else the
// image depends on.
package recipes

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/nspawn"

	"github.com/rktbuild/rktbuild/deb"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Version is folded into every recipe's inputs: bump it when a change to
// the shared recipe code changes the images.
const Version = "1"

// Recipe describes how one image is built.
type Recipe struct {
	// Order sorts recipes (the original NN- prefix).
	Order int
	// Name is the short name used by `mage image NAME`.
	Name string
	// Deps are recipes (short names) whose images this one is built from.
	Deps []string
	// NeedsRootfs says the recipe starts from the base rootfs (mage rootfs).
	NeedsRootfs bool
	// File is the ACI this recipe writes (its .asc sits beside it).
	File func(s *Settings) string
	// Inputs are what the image depends on besides its Deps' images and
	// this package's Version (added automatically).
	Inputs func(s *Settings) step.Inputs
	// Build writes the image to out (the Env writes and signs it).
	Build func(ctx context.Context, e *Env, out string) error
}

// Label is "NN-name", the recipe's place in the set.
func (r Recipe) Label() string { return fmt.Sprintf("%02d-%s", r.Order, r.Name) }

var (
	mu      sync.Mutex
	recipes = map[string]Recipe{}
)

// Register adds a recipe; a duplicate name panics (a programming error).
func Register(r Recipe) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := recipes[r.Name]; dup {
		panic("recipes: duplicate recipe " + r.Name)
	}
	recipes[r.Name] = r
}

// All returns every recipe in build order.
func All() []Recipe {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Recipe, 0, len(recipes))
	for _, r := range recipes {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Lookup returns the recipe with short name (or NN-name label) name.
func Lookup(name string) (Recipe, bool) {
	for _, r := range All() {
		if r.Name == name || r.Label() == name {
			return r, true
		}
	}
	return Recipe{}, false
}

// Resolve returns the named recipes plus everything they depend on, in
// build order: every recipe after the recipes it depends on, and otherwise
// by Order (a recipe whose dependency sorts after it is still built second).
// An empty list means all recipes.
func Resolve(names []string) ([]Recipe, error) {
	if len(names) == 0 {
		for _, r := range All() {
			names = append(names, r.Name)
		}
	}
	done := map[string]bool{}
	var out []Recipe
	var visit func(n string, from []string) error
	visit = func(n string, from []string) error {
		r, ok := Lookup(n)
		if !ok {
			var known []string
			for _, r := range All() {
				known = append(known, r.Name)
			}
			if len(from) > 0 {
				return fmt.Errorf("image %s depends on unknown image %q", from[len(from)-1], n)
			}
			return fmt.Errorf("unknown image %q: known images are %s", n, strings.Join(known, ", "))
		}
		for _, f := range from {
			if f == r.Name {
				return fmt.Errorf("image dependency cycle: %s -> %s", strings.Join(from, " -> "), r.Name)
			}
		}
		if done[r.Name] {
			return nil
		}
		deps := append([]string(nil), r.Deps...)
		sort.SliceStable(deps, func(i, j int) bool { return orderOf(deps[i]) < orderOf(deps[j]) })
		for _, d := range deps {
			if err := visit(d, append(from, r.Name)); err != nil {
				return err
			}
		}
		done[r.Name] = true
		out = append(out, r)
		return nil
	}
	roots := append([]string(nil), names...)
	sort.SliceStable(roots, func(i, j int) bool { return orderOf(roots[i]) < orderOf(roots[j]) })
	for _, n := range roots {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// orderOf is the Order of the recipe named n (unknown names sort last, so
// that Resolve reports them with their context).
func orderOf(n string) int {
	if r, ok := Lookup(n); ok {
		return r.Order
	}
	return int(^uint(0) >> 1)
}

// Env is what recipes build with: the settings, the rootfs runner
// environment and where the base rootfs lives.
type Env struct {
	Settings *Settings
	// Signer signs every image written.
	Signer *sign.Signer
	Rootfs nspawn.Env
	// RootfsDir is the debootstrapped base rootfs.
	RootfsDir string
	// work is the recipe's scratch directory.
	work string
}

// NewEnv prepares the build environment from the settings; signer signs
// the images.
func NewEnv(s *Settings, signer *sign.Signer) (*Env, error) {
	re, err := image.NewEnv(s.BuildDir, s.Rootfs.CacheDir)
	if err != nil {
		return nil, err
	}
	return &Env{Settings: s, Signer: signer, Rootfs: re, RootfsDir: s.Rootfs.Dir}, nil
}

// FromRootfs begins an image from a copy of the base rootfs.
func (e *Env) FromRootfs(ctx context.Context, name string) (*image.Builder, error) {
	b, err := image.FromRootfs(ctx, e.work, e.RootfsDir, name)
	if err != nil {
		return nil, err
	}
	b.Env = e.Rootfs
	return b, nil
}

// FromImage begins an image from the ACI another recipe (short name)
// wrote.
func (e *Env) FromImage(ctx context.Context, recipe, name string) (*image.Builder, error) {
	r, ok := Lookup(recipe)
	if !ok {
		return nil, fmt.Errorf("image %s: unknown base recipe %q", name, recipe)
	}
	b, err := image.FromACI(ctx, e.work, r.File(e.Settings), name)
	if err != nil {
		return nil, err
	}
	b.Env = e.Rootfs
	return b, nil
}

// Write packs b into out with SOURCE_DATE_EPOCH applied and signs it.
func (e *Env) Write(ctx context.Context, b *image.Builder, out string) error {
	epoch, has := e.Settings.Epoch, e.Settings.HasEpoch
	if !has {
		epoch, has = DeriveEpoch(ctx, b.Rootfs(), out)
	}
	id, err := b.WriteSigned(ctx, e.Signer, out, aci.PackOptions{Epoch: epoch, HasEpoch: has})
	if err != nil {
		return err
	}
	step.Summaryf(ctx, "wrote %s (%s) and %s.asc", out, id, out)
	return nil
}

// DeriveEpoch picks SOURCE_DATE_EPOCH for an image when none is set: the
// newest package date in its rootfs, else the repository's last commit
// time; it prints which. It returns false when neither is available.
func DeriveEpoch(ctx context.Context, rootfs, out string) (int64, bool) {
	if t, pkg, err := deb.NewestPackageDate(rootfs); err == nil {
		step.Summaryf(ctx, "%s: SOURCE_DATE_EPOCH is not set: using %d, the newest package date in the rootfs (%s)", filepath.Base(out), t.Unix(), pkg)
		return t.Unix(), true
	}
	if s, err := step.Output(ctx, "git", "log", "-1", "--format=%ct"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			step.Summaryf(ctx, "%s: SOURCE_DATE_EPOCH is not set: using %d, the repository's last commit time", filepath.Base(out), n)
			return n, true
		}
	}
	step.Summaryf(ctx, "%s: SOURCE_DATE_EPOCH is not set and neither a package date nor a git commit is available: the image is not reproducible", filepath.Base(out))
	return 0, false
}

// Status is one row of the table Build ends with.
type Status struct {
	Recipe   Recipe
	File     string
	Result   string // "built", "up to date", "failed", "skipped"
	Reason   string
	Duration time.Duration
	Err      error
}

// InputsOf returns the full step inputs of r: its own, the files of the
// images it is built from, and the shared versions.
func InputsOf(s *Settings, r Recipe) step.Inputs {
	var in step.Inputs
	if r.Inputs != nil {
		in = r.Inputs(s)
	}
	if in.Values == nil {
		in.Values = map[string]string{}
	}
	// The key predates the package's rename (images -> recipes): kept, so
	// that the rename rebuilds nothing.
	in.Values["images.version"] = Version
	in.Values["image.file"] = r.File(s)
	// Recipe images carry no device nodes (image.Builder.Write): images
	// built before that rule must be rebuilt.
	in.Values["image.rootfs"] = "no device nodes, FIFOs or sockets; empty /dev"
	for _, d := range r.Deps {
		if dr, ok := Lookup(d); ok {
			in.Files = append(in.Files, dr.File(s))
		}
	}
	// The signing key by content: another key at the same path re-signs.
	in.Files = append(in.Files, sign.KeyFiles(s.SigningKey)...)
	if r.NeedsRootfs {
		// The rootfs tree itself (hashed by content, cached by stat).
		in.Files = append(in.Files, s.Rootfs.Dir)
	}
	return in
}

// Build builds recipes in order (each only when its inputs changed). It
// stops at the first failure; the remaining recipes are reported as
// skipped.
func Build(ctx context.Context, e *Env, list []Recipe) ([]Status, error) {
	var out []Status
	var firstErr error
	if len(list) > 0 {
		// Create the signing key before the steps hash it, so that
		// generating it on first use does not rebuild on the next run.
		if err := step.Perform(ctx, step.Effect{What: "ensure the signing key " + e.Settings.SigningKey, Have: true,
			Run: func(ctx context.Context) error { _, _, err := e.Signer.Ensure(ctx); return err }}); err != nil {
			return nil, err
		}
	}
	for _, r := range list {
		file := r.File(e.Settings)
		st := Status{Recipe: r, File: file}
		if firstErr != nil {
			st.Result = "skipped"
			out = append(out, st)
			continue
		}
		start := time.Now()
		res, err := step.Do(ctx, step.Step{
			Name:    "image:" + r.Label(),
			Inputs:  InputsOf(e.Settings, r),
			Outputs: []string{file, file + ".asc"},
			Run: func(ctx context.Context) error {
				e.work = filepath.Join(e.Settings.BuildDir, "images", r.Label())
				if e.Rootfs.Runner != nil {
					step.Logf(ctx, "steps inside the image run with %s", e.Rootfs.Runner)
				}
				defer fsutil.RemoveAll(e.work)
				return r.Build(ctx, e, file)
			},
		})
		if err == nil {
			// The SBOM and, with IMAGE_FORMATS=aci,oci, the OCI layout.
			var xr step.Result
			if xr, err = ExtraOutputs(ctx, e.Settings, r, file); xr.Ran && !res.Ran {
				res = xr
			}
		}
		st.Duration = time.Since(start)
		st.Reason = res.Reason
		switch {
		case err != nil:
			st.Result, st.Err, firstErr = "failed", err, fmt.Errorf("image %s: %w", r.Label(), err)
		default:
			st.Result = resultWord(res)
		}
		out = append(out, st)
	}
	return out, firstErr
}

// resultWord is the status table's word for a step that did not fail.
func resultWord(res step.Result) string {
	switch {
	case res.Ran:
		return "built"
	case res.WouldRun:
		return "would build"
	}
	return "up to date"
}
