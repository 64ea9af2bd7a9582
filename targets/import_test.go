package targets_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportedByAnotherRepository builds a real magefile that imports
// rktbuild's targets with //mage:import and checks that they are listed,
// run, and read the importing repository's own .config.
func TestImportedByAnotherRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a magefile: skipped with -short")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(repo, "testdata", "importer")
	mod, err := os.ReadFile(filepath.Join(src, "go.mod.in"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"go.mod":  []byte(strings.ReplaceAll(string(mod), "REPO", repo)),
		".config": []byte("ACI_REGISTRY=example.org/importer\n"),
	}
	if files["go.sum"], err = os.ReadFile(filepath.Join(repo, "go.sum")); err != nil {
		t.Fatal(err)
	}
	if files["magefile.go"], err = os.ReadFile(filepath.Join(src, "magefile.go")); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mage := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"run", "github.com/magefile/mage"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "MAGEFILE_CACHE="+filepath.Join(dir, ".magecache"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mage %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	list := mage("-l")
	for _, want := range []string{"hello", "rkt:config", "rkt:doctor", "rkt:plan"} {
		if !strings.Contains(list, want) {
			t.Errorf("mage -l lacks %q:\n%s", want, list)
		}
	}
	if out := mage("hello"); !strings.Contains(out, "hello from the importing repository") {
		t.Errorf("own target output: %s", out)
	}
	before := tree(t, dir)
	out := mage("rkt:config")
	if !strings.Contains(out, `ACI_REGISTRY="example.org/importer"	# .config:1`) {
		t.Errorf("imported rkt:config did not read the importer's .config:\n%s", out)
	}
	if !strings.Contains(out, `S1B_STAGE1_NAME="example.org/importer/rkt/stage1-kvm"`) {
		t.Errorf("defaults did not follow the importer's ACI_REGISTRY:\n%s", out)
	}
	// Read-only targets write nothing: no output, scratch or cache
	// directories, no go.mod fences (issue 12, case 3).
	mage("rkt:plan", "certs")
	mage("rkt:plan", "publish")
	mage("rkt:store:list")
	if after := tree(t, dir); after != before {
		t.Errorf("read-only targets changed the repository:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// tree lists every path under dir except mage's compile cache.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".magecache" {
			return filepath.SkipDir
		}
		b.WriteString(rel + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
