package targets_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// aci:id and aci:manifest check the whole archive first: a gzip file that
// is not an ACI gets no image ID, and an archive with two manifests is
// refused instead of printing the first (issue 12, case 9).
func TestACIIDAndManifestRefuseNonACIs(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the magefile: skipped with -short")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := compiledMage(t, repo)
	dir := t.TempDir()
	notACI := filepath.Join(dir, "notes.aci")
	gz := exec.Command("sh", "-c", "echo hello | gzip > "+notACI)
	if out, err := gz.CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v %s", err, out)
	}
	seeds := filepath.Join(repo, "testdata", "aci", "fuzz-check")
	tests := []struct {
		target, file, want string
		ok                 bool
	}{
		{"aci:id", notACI, "is not a valid ACI", false},
		{"aci:manifest", notACI, "is not a valid ACI", false},
		{"aci:manifest", filepath.Join(seeds, "two-manifests.aci"), "duplicate", false},
		{"aci:id", filepath.Join(seeds, "two-manifests.aci"), "duplicate", false},
		{"aci:id", filepath.Join(seeds, "valid.aci"), "sha512-", true},
		{"aci:manifest", filepath.Join(seeds, "valid.aci"), `"example.com/seed"`, true},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, tt.target, tt.file)
		cmd.Dir = dir
		cmd.Env = os.Environ()
		out, err := cmd.CombinedOutput()
		if (err == nil) != tt.ok || !strings.Contains(string(out), tt.want) {
			t.Errorf("mage %s %s: %v\n%s\nwant success=%v and %q", tt.target, filepath.Base(tt.file), err, out, tt.ok, tt.want)
		}
		if !tt.ok && strings.Contains(string(out), "sha512-") {
			t.Errorf("mage %s %s printed an image ID for a refused file:\n%s", tt.target, filepath.Base(tt.file), out)
		}
	}
}
