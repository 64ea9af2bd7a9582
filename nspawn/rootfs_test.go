package nspawn

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCleanApt(t *testing.T) {
	root := t.TempDir()
	files := []string{
		"var/lib/apt/lists/deb_dists_bookworm_InRelease",
		"var/lib/apt/lists/lock",
		"var/cache/apt/archives/curl_1.0_amd64.deb",
		"var/cache/apt/pkgcache.bin",
		"etc/keep",
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/apt/lists/partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CleanApt(root); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{
		"var/lib/apt/lists/deb_dists_bookworm_InRelease": false,
		"var/lib/apt/lists/lock":                         true,
		"var/lib/apt/lists/partial":                      true,
		"var/cache/apt/archives/curl_1.0_amd64.deb":      false,
		"var/cache/apt/pkgcache.bin":                     false,
		"etc/keep":                                       true,
	} {
		_, err := os.Lstat(filepath.Join(root, f))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", f, got, want)
		}
	}
}
