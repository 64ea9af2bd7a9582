//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
	"github.com/rktbuild/rktbuild/targets"
)

// Real commands from the module proxy, pinned.
const (
	imgStringer = "golang.org/x/tools/cmd/stringer@v0.52.0"
	imgHey      = "github.com/rakyll/hey@v0.1.5"
)

// TestImagesRepoBuild is the images issue's end-to-end test: on the
// suite's shared bookworm rootfs, base ACI and Go builder ACI (sharedImages:
// both signed, both accepted by actool validate) → buildRepos on real
// modules whose binaries run on the host → `mage run`'s path (verify,
// render, nspawn with a volume, exit code) → a second run that does no
// debootstrap and no download (the builds run with no network at all) → a
// failing entry that does not stop the others. The repo binaries go to
// the test's own BINS_DIR.
//
// Run: go test -tags e2e -run ImagesRepoBuild -v ./e2e/
func TestImagesRepoBuild(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: debootstrap and systemd-nspawn")
	}
	for _, tool := range []string{"debootstrap", "systemd-nspawn", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s (apt-get install debootstrap systemd-container golang-go)", tool)
		}
	}
	s := sharedImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cc := *s.Config
	cc.BinsDir = filepath.Join(dir, "bins")
	c := &cc
	out := &testutil.SyncBuffer{}
	ses := step.NewSession(filepath.Join(c.BuildDir, ".stamps"), c.Jobs)
	ses.Out = io.MultiWriter(os.Stdout, out)
	ctx = step.WithSession(ctx, ses)

	list := filepath.Join(dir, "repos.txt")
	if err := os.WriteFile(list, []byte("# e2e repo list\n"+imgStringer+"\n\n"+imgHey+"  # load generator\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// First run: builds whatever is not up to date, then the repos.
	sts, res, err := recipes.BuildRepos(ctx, targets.RecipeSettings(c), modelSigner(c), modelVerifier(c), list, false)
	if err != nil {
		t.Fatalf("first buildRepos: %v", err)
	}
	first := out.Take()
	imgCheckStatuses(t, sts, "")
	imgCheckResults(t, res, 2)

	baseFile, builderFile := recipes.BaseFile(targets.RecipeSettings(c)), recipes.GoBuilderFile(targets.RecipeSettings(c))
	if want := filepath.Join(c.ACIDir, "debian-bookworm-linux-amd64.aci"); baseFile != want {
		t.Errorf("base image file %s, want %s", baseFile, want)
	}
	if want := filepath.Join(c.ACIDir, "go-builder-go"+c.GoVersion+"-linux-amd64.aci"); builderFile != want {
		t.Errorf("Go builder file %s, want %s", builderFile, want)
	}
	actool := imgBuildActool(t, dir)
	for _, f := range []string{baseFile, builderFile} {
		if o, err := exec.CommandContext(ctx, actool, "validate", f).CombinedOutput(); err != nil {
			t.Errorf("actool validate %s: %v\n%s", f, err, o)
		}
		if signer, err := sign.VerifyFile(f, "", c.SigningKey); err != nil {
			t.Errorf("signature of %s: %v", f, err)
		} else {
			t.Logf("%s: good signature from %s", filepath.Base(f), signer)
		}
	}

	// The binaries run on the host.
	imgRunStringer(t, ctx, filepath.Join(recipes.BinDir(c.BinsDir, recipes.RepoEntry{Target: imgStringer}), "stringer"))
	imgRunHey(t, ctx, filepath.Join(recipes.BinDir(c.BinsDir, recipes.RepoEntry{Target: imgHey}), "hey"))

	// `mage run`'s path on the base image: verify, render, run with a
	// host volume; the app's exit code comes back.
	imgRunBase(t, ctx, c, baseFile)
	out.Take()

	// Second run: nothing is rebuilt, nothing is downloaded: the builds
	// have no network at all, only the module cache.
	sts, res, err = recipes.BuildRepos(ctx, targets.RecipeSettings(c), modelSigner(c), modelVerifier(c), list, true)
	if err != nil {
		t.Fatalf("second (offline) buildRepos: %v", err)
	}
	second := out.Take()
	imgCheckStatuses(t, sts, "up to date")
	imgCheckResults(t, res, 2)
	for _, bad := range []string{"debootstrap", "fetching Go", "go: downloading", "rendering"} {
		if strings.Contains(second, bad) {
			t.Errorf("second run output contains %q:\n%s", bad, second)
		}
	}
	t.Logf("first run output: %d bytes; second run output:\n%s", len(first), second)

	// A failing entry does not stop the others; the run fails, naming it,
	// and leaves nothing under its bins directory.
	bad := "example.invalid/nope@v1.0.0"
	if err := os.WriteFile(list, []byte(bad+"\n"+imgStringer+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, res, err = recipes.BuildRepos(ctx, targets.RecipeSettings(c), modelSigner(c), modelVerifier(c), list, true)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 repo builds failed: "+bad) {
		t.Fatalf("buildRepos with a failing entry: err = %v", err)
	}
	if len(res) != 2 || res[0].Err == nil || res[1].Err != nil {
		t.Fatalf("results = %+v", res)
	}
	if _, err := os.Stat(filepath.Join(c.BinsDir, "example.invalid")); err == nil {
		t.Errorf("a failed build left %s", filepath.Join(c.BinsDir, "example.invalid"))
	}
}

// imgCheckStatuses checks the rootfs + image rows; want "" accepts built
// or up to date (sharedImages built them).
func imgCheckStatuses(t *testing.T, sts []recipes.Status, want string) {
	t.Helper()
	var got []string
	for _, s := range sts {
		got = append(got, s.Recipe.Name+"="+s.Result)
		if s.Err != nil || (want != "" && s.Result != want) || (want == "" && s.Result != "built" && s.Result != "up to date") {
			t.Errorf("%s: %s (%s) %v", s.Recipe.Name, s.Result, s.Reason, s.Err)
		}
	}
	if strings.Join(got, " ") == "" || len(sts) != 3 {
		t.Errorf("statuses = %v, want rootfs, base, go-builder", got)
	}
}

func imgCheckResults(t *testing.T, res []recipes.RepoResult, n int) {
	t.Helper()
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	for _, r := range res {
		if r.Err != nil || len(r.Artifacts) == 0 {
			t.Errorf("%s: artifacts %v, err %v", r.Entry.Target, r.Artifacts, r.Err)
		}
	}
}

func imgBuildActool(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tools", "actool")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/appc/spec/actool")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building actool: %v\n%s", err, o)
	}
	return bin
}

func imgRunStringer(t *testing.T, ctx context.Context, stringer string) {
	t.Helper()
	pkg := t.TempDir()
	os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module example.com/pill\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "pill.go"), []byte("package pill\n\ntype Pill int\n\nconst (\n\tPlacebo Pill = iota\n\tAspirin\n)\n"), 0o644)
	cmd := exec.CommandContext(ctx, stringer, "-type=Pill")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running the built stringer: %v\n%s", err, o)
	}
	gen, err := os.ReadFile(filepath.Join(pkg, "pill_string.go"))
	if err != nil || !strings.Contains(string(gen), "func (i Pill) String() string") {
		t.Errorf("stringer did not generate pill_string.go: %v\n%s", err, gen)
	}
}

func imgRunHey(t *testing.T, ctx context.Context, hey string) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	if o, err := exec.CommandContext(ctx, hey, "-n", "5", "-c", "1", srv.URL).CombinedOutput(); err != nil {
		t.Fatalf("running the built hey: %v\n%s", err, o)
	}
	if hits.Load() != 5 {
		t.Errorf("hey made %d requests, want 5", hits.Load())
	}
}

func imgRunBase(t *testing.T, ctx context.Context, c *config.Config, file string) {
	t.Helper()
	r, runner, err := recipes.Prepare(ctx, targets.RecipeSettings(c), modelVerifier(c), file, false)
	if err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	vols, err := image.ParseVolumes("out,kind=host,source=" + vol)
	if err != nil {
		t.Fatal(err)
	}
	mounts, _ := image.ParseMounts("volume=out,target=/out")
	o, err := image.RunOptions(r, image.App{
		Args:    []string{"sh", "-c", `cat /etc/debian_version > /out/version; echo "$PATH" > /out/path; pwd > /out/pwd; exit 4`},
		Volumes: vols, Mounts: mounts,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	o.Stdout, o.Stderr = &buf, &buf
	err = runner.Run(ctx, o)
	if code := nspawn.ExitCode(err); code != 4 {
		t.Fatalf("exit code %d (%v), want 4\n%s", code, err, buf.String())
	}
	for f, want := range map[string]string{"version": "12.", "path": recipes.BasePath, "pwd": "/"} {
		b, err := os.ReadFile(filepath.Join(vol, f))
		if err != nil || !strings.HasPrefix(string(b), want) {
			t.Errorf("/out/%s = %q, %v; want prefix %q", f, b, err, want)
		}
	}
	// The cached rendering is reused and was not changed by the run.
	r2, _, err := recipes.Prepare(ctx, targets.RecipeSettings(c), modelVerifier(c), file, false)
	if err != nil || !r2.Reused {
		t.Errorf("second Prepare: reused=%v, %v", r2 != nil && r2.Reused, err)
	}
	if _, err := os.Stat(filepath.Join(r.Rootfs(), "out", "version")); err == nil {
		t.Error("the run wrote into the cached rendering")
	}
}
