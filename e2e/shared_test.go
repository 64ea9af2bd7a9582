//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/targets"
)

// sharedRoot holds the work that several end-to-end tests share (one
// debootstrap, one base and Go builder image build, many checks). E2E_WORK=DIR
// keeps it between runs; otherwise it is a temporary directory removed when
// the suite ends.
var sharedRoot string

func TestMain(m *testing.M) {
	dir := os.Getenv("E2E_WORK")
	keep := dir != ""
	if !keep {
		d, err := os.MkdirTemp("", "rktbuild-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		dir = d
	}
	sharedRoot = dir
	// The tests wait on each other's shared builds (sharedImages, the
	// stage1 fleet) and mostly wait on downloads and qemu: more of them
	// may run at once than the 2 cores go test allows by default.
	flag.Parse()
	if !flagSet("test.parallel") {
		_ = flag.Set("test.parallel", "4")
	}
	prestartShared()
	code := m.Run()
	runSuiteCleanups()
	if !keep {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// flagSet reports whether the command line set the named flag.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// SharedImages is the result of one `mage images` run with a bookworm
// rootfs, shared by every test that needs the base or Go builder image.
type SharedImages struct {
	Dir     string   // work directory (build, aci, cache, keys, trust, bins)
	Env     []string // the environment that built them; pass it to runMage
	Config  *config.Config
	Base    string // the base image file
	Builder string // the Go builder image file
	PubKey  string // the signing key's public half
}

var (
	imagesOnce sync.Once
	imagesRes  *SharedImages
	imagesErr  error
)

// sharedImagesEnv is the configuration of the shared image build.
func sharedImagesEnv(dir string) map[string]string {
	return map[string]string{
		"ROOTFS_SUITE":  "bookworm",
		"S1B_BUILD_DIR": filepath.Join(dir, "build"),
		"S1B_ACI_DIR":   filepath.Join(dir, "aci"),
		"S1B_OUT_DIR":   filepath.Join(dir, "out"),
		"CACHE_DIR":     filepath.Join(dir, "cache"),
		"SIGNING_KEY":   filepath.Join(dir, "keys", "rktbuild"),
		"TRUST_DIR":     filepath.Join(dir, "trustedkeys"),
		"BINS_DIR":      filepath.Join(dir, "bins"),
		"S1B_JOBS":      "2",
	}
}

// sharedImages builds the base and Go builder images once per suite run
// (`mage images` with a bookworm rootfs) and returns where they are. Tests
// that need them call it instead of building their own; it skips unless
// root.
func sharedImages(t *testing.T) *SharedImages {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: debootstrap and systemd-nspawn")
	}
	imagesOnce.Do(buildSharedImages)
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return imagesRes
}

// buildSharedImages runs the shared `mage images` (through imagesOnce).
func buildSharedImages() {
	dir := filepath.Join(sharedRoot, "images")
	envm := sharedImagesEnv(dir)
	var env []string
	for k, v := range envm {
		env = append(env, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	out, took, err := runMage(ctx, env, "images")
	if err != nil {
		imagesErr = fmt.Errorf("shared `mage images` failed after %s: %v\n%s", took, err, testutil.Tail(out, 60))
		return
	}
	c, err := config.Load(config.Options{Dir: dir, LookupEnv: func(k string) (string, bool) { v, ok := envm[k]; return v, ok }})
	if err != nil {
		imagesErr = err
		return
	}
	imagesRes = &SharedImages{
		Dir: dir, Env: env, Config: c,
		Base: recipes.BaseFile(targets.RecipeSettings(c)), Builder: recipes.GoBuilderFile(targets.RecipeSettings(c)),
		PubKey: c.SigningKey + ".pub.asc",
	}
	fmt.Fprintf(os.Stderr, "e2e: shared images built in %s\n", took.Round(time.Second))
}
