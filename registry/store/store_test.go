package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func id(c byte) string { return "sha512-" + strings.Repeat(string(c), 128) }

func TestIndexResolveRmGc(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	add := func(c byte, version string, at time.Time) {
		f, err := s.TempFile()
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("image " + version)
		f.Close()
		if _, err := s.Add(f.Name(), []byte("sig"), Image{ID: id(c), Name: "example.com/app",
			Labels: map[string]string{"version": version, "os": "linux"}, Imported: at}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	add('a', "1.9.0", now)
	add('b', "1.10.0", now.Add(-time.Hour)) // semver-newer, imported earlier
	add('c', "1.2.0", now.Add(time.Hour))

	for ref, want := range map[string]string{
		"example.com/app":          id('b'),
		"example.com/app:1.9.0":    id('a'),
		"example.com/app,os=linux": id('b'),
		"sha512-cccccccc":          id('c'),
		id('a'):                    id('a'),
	} {
		im, err := s.Resolve(ref)
		if err != nil || im.ID != want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", ref, im.ID, err, want)
		}
	}
	for ref, msg := range map[string]string{
		"sha512-ab":              "too short",
		"sha512-dddddddd":        "no stored image",
		"example.com/app:3":      "no stored image",
		"example.com/app,os=bsd": "no stored image",
	} {
		if _, err := s.Resolve(ref); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Resolve(%q): %v, want %q", ref, err, msg)
		}
	}
	if got := s.BlobPath(id('a')); got != filepath.Join(s.Dir, "cas", "blob", "sha512", "aa", id('a')) {
		t.Errorf("blob path %s", got)
	}
	out := filepath.Join(t.TempDir(), "x.aci")
	if _, err := s.Export("example.com/app:1.2.0", out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "image 1.2.0" {
		t.Errorf("export wrote %q", b)
	}
	if b, _ := os.ReadFile(out + ".asc"); string(b) != "sig" {
		t.Errorf("export signature %q", b)
	}
	if _, err := s.Add(filepath.Join(s.Dir, "tmp", "nope"), nil, Image{ID: "sha512-short"}); err == nil {
		t.Error("Add accepted an invalid ID")
	}
	gone, err := s.Rm("example.com/app,os=linux")
	if err != nil || len(gone) != 3 {
		t.Fatalf("rm removed %d (%v)", len(gone), err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("after rm: %v", list)
	}
	stale, _ := s.TempFile()
	stale.Close()
	removed, err := s.Gc(0)
	if err != nil || len(removed) != 1 || removed[0] != stale.Name() {
		t.Errorf("gc removed %v (%v), want the stale download", removed, err)
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1500, "1.5 kB"}, {999999, "1000.0 kB"},
		{1e6, "1.0 MB"}, {96e6, "96.0 MB"}, {1e9, "1.0 GB"}, {12345678901, "12.3 GB"},
	} {
		if got := FormatSize(tc.n); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestWriteTableAndList: store:list's table (golden file) and that
// listing a store that does not exist is empty and creates nothing.
func TestWriteTableAndList(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	ims := []Image{
		{ID: id('a'), Name: "example.com/app", Labels: map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"}, Size: 96e6, Imported: at},
		{ID: id('b'), Name: "example.com/tiny", Size: 512, Imported: at},
	}
	var b strings.Builder
	if err := WriteTable(&b, ims); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "list.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("table differs from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", golden, b.String())
	}
	missing := filepath.Join(t.TempDir(), "none")
	if got, err := List(missing); err != nil || len(got) != 0 {
		t.Errorf("List(missing) = %v, %v", got, err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("List created %s", missing)
	}
}
