package recipes

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/internal/say"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
	"golang.org/x/term"
)

// BuildSet builds the base rootfs when a recipe needs it, then the named
// recipes and what they depend on, in order (all recipes when names is
// empty). The statuses include a "rootfs" row first when the rootfs was
// considered.
func BuildSet(ctx context.Context, s *Settings, signer *sign.Signer, names []string) ([]Status, error) {
	list, err := Resolve(names)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, r := range list {
		if !r.NeedsRootfs {
			continue
		}
		o := s.Rootfs
		start := time.Now()
		res, err := rootfs.Build(ctx, o)
		st := Status{Recipe: Recipe{Name: "rootfs", Order: -1}, File: o.Dir, Reason: res.Reason, Duration: time.Since(start)}
		switch {
		case err != nil:
			st.Result, st.Err = "failed", err
			out = append(out, st)
			for _, r := range list {
				out = append(out, Status{Recipe: r, File: r.File(s), Result: "skipped"})
			}
			return out, err
		default:
			st.Result = resultWord(res)
		}
		out = append(out, st)
		break
	}
	e, err := NewEnv(s, signer)
	if err != nil {
		return out, err
	}
	sts, err := Build(ctx, e, list)
	return append(out, sts...), err
}

// WriteStatus prints the status table of BuildSet.
func WriteStatus(w io.Writer, sts []Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tRESULT\tDURATION\tFILE\tWHY")
	for _, s := range sts {
		label := s.Recipe.Label()
		if s.Recipe.Order < 0 {
			label = s.Recipe.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", label, s.Result, s.Duration.Round(100*time.Millisecond), s.File, s.Reason)
	}
	tw.Flush()
}

// RenderDir is where images are rendered for running, keyed by image ID.
func RenderDir(s *Settings) string { return filepath.Join(s.CacheDir, "rendered") }

// FindImage resolves what `mage run` was given: an .aci file, a recipe's
// short name (base, go-builder), or an image name (NAME[:VERSION][,l=v])
// or ID that NewLocator finds among recipe outputs and the image store.
func FindImage(s *Settings, ref string) (string, error) {
	if strings.HasSuffix(ref, ".aci") {
		if _, err := os.Stat(ref); err != nil {
			return "", fmt.Errorf("image file %s: %w", ref, err)
		}
		return ref, nil
	}
	if r, ok := Lookup(ref); ok {
		f := r.File(s)
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("image %s: %s does not exist: build it with `mage image %s`", ref, f, r.Name)
		}
		return f, nil
	}
	f, err := NewLocator(s).Image(ref)
	if err != nil {
		var known []string
		for _, r := range All() {
			known = append(known, r.Name)
		}
		return "", fmt.Errorf("%w (recipes: %s)", err, strings.Join(known, ", "))
	}
	return f, nil
}

// Prepare verifies the image file with v (unless insecure) and renders it
// for running, returning the runner to use.
func Prepare(ctx context.Context, s *Settings, v sign.Verifier, file string, insecure bool) (*image.Rendered, *nspawn.Runner, error) {
	runner, err := nspawn.Find(s.BuildDir)
	if err != nil {
		return nil, nil, err
	}
	if insecure {
		step.Summaryf(ctx, "WARNING: not verifying the signature of %s (insecure)", file)
	} else {
		m, err := aci.ReadManifest(file)
		if err != nil {
			return nil, nil, err
		}
		signer, err := v.VerifyFile(ctx, m.Name.String(), file)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (or run with -insecure)", err)
		}
		step.Logf(ctx, "%s: good signature from %s", file, signer)
	}
	r, err := image.Render(ctx, file, RenderDir(s), NewLocator(s).Finder())
	if err != nil {
		return nil, nil, err
	}
	return r, runner, nil
}

// BuildRepos builds the Go builder image (and what it needs) when not up
// to date, then every entry of the repo list with it, S1B_JOBS at a time,
// into BINS_DIR/<entry>. It returns the per-entry results; the error names
// the failed entries.
//
// offline builds with no network from the module cache only (see
// RepoBuild.Offline).
func BuildRepos(ctx context.Context, s *Settings, signer *sign.Signer, v sign.Verifier, listFile string, offline bool) ([]Status, []RepoResult, error) {
	entries, err := ReadRepoList(listFile)
	if err != nil {
		return nil, nil, err
	}
	sts, err := BuildSet(ctx, s, signer, []string{"go-builder"})
	if err != nil {
		return sts, nil, err
	}
	var plan []string
	for _, e := range entries {
		plan = append(plan, fmt.Sprintf("build %s into %s", e.Target, BinDir(s.BinsDir, e)))
	}
	// The repo builds run in the builder image, outside the step graph: a
	// plan lists them and ends here.
	if err := step.Perform(ctx, step.Effect{What: strings.Join(plan, "\nwould "), Run: func(context.Context) error { return nil }}); err != nil {
		return sts, nil, err
	}
	r, runner, err := Prepare(ctx, s, v, GoBuilderFile(s), false)
	if err != nil {
		return sts, nil, err
	}
	step.Summaryf(ctx, "building %d repos with %s, %d at a time, using %s", len(entries), r.Manifest.Name, s.Jobs, runner)
	rb := RepoBuild{
		Runner:   runner,
		Builder:  r,
		BinsDir:  s.BinsDir,
		ModCache: filepath.Join(s.CacheDir, "gomod"),
		GoCache:  filepath.Join(s.CacheDir, "gobuild"),
		Env:      HostEnv(),
		Jobs:     s.Jobs,
		CAFile:   HostCAFile(),
		Offline:  offline,
	}
	res := rb.Run(ctx, entries)
	var b strings.Builder
	err = WriteTable(&b, res)
	step.Printf(ctx, "%s", b.String())
	return sts, res, err
}

// RunImage runs the app of the image ref names (see FindImage), as `rkt
// run` did: verified with v unless insecure, rendered with its
// dependencies, run with the process's standard streams (a console when
// both ends are terminals). Standard output belongs to the app: rktbuild's
// own messages go to standard error. The app's failure is returned as is
// (nspawn.ExitCode gives its status).
func RunImage(ctx context.Context, s *Settings, v sign.Verifier, ref string, a image.App, insecure bool) error {
	file, err := FindImage(s, ref)
	if err != nil {
		return err
	}
	// Standard output belongs to the app, as with rkt: rktbuild's own
	// messages (verification, rendering) go to standard error.
	ctx = say.WithWriter(ctx, os.Stderr)
	return step.Perform(ctx, step.Effect{What: "run " + file, Have: true, Run: func(ctx context.Context) error {
		return runImage(ctx, s, v, file, a, insecure)
	}})
}

// runImage does RunImage's work once the image file is found.
func runImage(ctx context.Context, s *Settings, v sign.Verifier, file string, a image.App, insecure bool) error {
	r, runner, err := Prepare(ctx, s, v, file, insecure)
	if err != nil {
		return err
	}
	o, err := image.RunOptions(r, a)
	if err != nil {
		return err
	}
	if app := r.Manifest.App; app != nil && app.Group != "" && app.Group != "0" && app.Group != "root" {
		step.Summaryf(ctx, "note: %s asks for group %s; systemd-nspawn runs the app with its user's primary group", r.Manifest.Name, app.Group)
	}
	o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
	if term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
		o.Console = "interactive"
	}
	step.Logf(ctx, "running %s (%s) with %s", r.Manifest.Name, r.ID, runner)
	return runner.Run(ctx, o)
}
