package recipes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/registry/store"
)

// packTiny writes a one-file image name:version with the given
// dependencies into out and returns its ID.
func packTiny(t *testing.T, out, name, version string, deps ...string) string {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, strings.ReplaceAll(name, "/", "_")), []byte(version), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := aci.NewManifest(name, map[string]string{"version": version})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		n, v, _ := strings.Cut(d, ":")
		l, err := aci.MakeLabels(map[string]string{"version": v})
		if err != nil {
			t.Fatal(err)
		}
		m.Dependencies = append(m.Dependencies, types.Dependency{ImageName: *types.MustACIdentifier(n), Labels: l})
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := aci.PackRootfs(context.Background(), m, rootfs, out, aci.PackOptions{Epoch: 1, HasEpoch: true})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// storeImage adds the ACI file to the store as `mage fetch` does (blob
// under cas/blob/sha512/).
func storeImage(t *testing.T, s *store.Store, file, id, name, version string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.TempFile()
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data)
	f.Close()
	if _, err := s.Add(f.Name(), []byte("sig"), store.Image{ID: id, Name: name,
		Labels: map[string]string{"version": version, "os": "linux"}, Imported: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestLocator is the regression test for `mage run` never finding fetched
// images and dependencies: it used to glob STORE_DIR/*.aci while the store
// keeps blobs under cas/blob/sha512/.
func TestLocator(t *testing.T) {
	tmp := t.TempDir()
	aciDir := filepath.Join(tmp, "aci")
	s, err := store.Open(filepath.Join(tmp, "store"))
	if err != nil {
		t.Fatal(err)
	}
	packTiny(t, filepath.Join(aciDir, "app.aci"), "example.com/app", "1.0", "example.com/dep:2.0")
	packTiny(t, filepath.Join(aciDir, "dual.aci"), "example.com/dual", "1.0")
	fetchedDep := filepath.Join(tmp, "fetched", "dep.aci")
	depID := packTiny(t, fetchedDep, "example.com/dep", "2.0")
	storeImage(t, s, fetchedDep, depID, "example.com/dep", "2.0")
	fetchedOther := filepath.Join(tmp, "fetched", "other.aci")
	otherID := packTiny(t, fetchedOther, "example.com/fetched", "3.0")
	storeImage(t, s, fetchedOther, otherID, "example.com/fetched", "3.0")
	// The same name in the store and in a recipe output: outputs win.
	dualFetched := filepath.Join(tmp, "fetched", "dual.aci")
	dualID := packTiny(t, dualFetched, "example.com/dual", "0.9-fetched")
	storeImage(t, s, dualFetched, dualID, "example.com/dual", "1.0")

	l := Locator{Dirs: []string{aciDir}, StoreDir: s.Dir}
	for _, tc := range []struct{ ref, want, wantErr string }{
		{ref: "example.com/app", want: filepath.Join(aciDir, "app.aci")},
		{ref: "example.com/app:1.0", want: filepath.Join(aciDir, "app.aci")},
		{ref: "example.com/dual", want: filepath.Join(aciDir, "dual.aci")},
		{ref: "example.com/fetched", want: s.BlobPath(otherID)},
		{ref: "example.com/fetched:3.0,os=linux", want: s.BlobPath(otherID)},
		{ref: otherID[:7+12], want: s.BlobPath(otherID)},
		{ref: "example.com/fetched:4.0", wantErr: "no stored image matches"},
		{ref: "example.com/nope", wantErr: "mage fetch example.com/nope"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := l.Image(tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Image(%q) = %q, %v; want error containing %q", tc.ref, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Image(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}

	// Rendering the built app pulls its dependency from the store.
	r, err := image.Render(context.Background(), filepath.Join(aciDir, "app.aci"), filepath.Join(tmp, "rendered"), l.Finder())
	if err != nil {
		t.Fatalf("rendering with a dependency in the store: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(r.Rootfs(), "example.com_dep")); err != nil || string(b) != "2.0" {
		t.Errorf("dependency file in the rendering = %q, %v", b, err)
	}
	// Without the store the dependency is reported with the fix.
	_, err = Locator{Dirs: []string{aciDir}}.Finder()(types.Dependency{ImageName: *types.MustACIdentifier("example.com/dep")})
	if err == nil || !strings.Contains(err.Error(), "mage fetch example.com/dep") {
		t.Errorf("missing dependency error = %v", err)
	}
}

// TestLocatorFiles checks the image list publish takes: .aci files under
// every directory, nested ones included, hidden files and directories and
// other files skipped, a missing directory empty, order by directory then
// path.
func TestLocatorFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []string{
		filepath.Join(a, "z.aci"),
		filepath.Join(a, "m.aci"),
		filepath.Join(a, "sub", "n.aci"),
		filepath.Join(a, ".tmp-123.aci"),
		filepath.Join(a, ".hidden", "x.aci"),
		filepath.Join(a, "m.aci.asc"),
		filepath.Join(a, "notes.txt"),
		filepath.Join(b, "a.aci"),
	} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		dirs []string
		want []string
	}{
		{[]string{a, b}, []string{filepath.Join(a, "m.aci"), filepath.Join(a, "sub", "n.aci"), filepath.Join(a, "z.aci"), filepath.Join(b, "a.aci")}},
		{[]string{b, a}, []string{filepath.Join(b, "a.aci"), filepath.Join(a, "m.aci"), filepath.Join(a, "sub", "n.aci"), filepath.Join(a, "z.aci")}},
		{[]string{filepath.Join(b, "missing")}, nil},
		{nil, nil},
	}
	for _, tc := range cases {
		got, err := Locator{Dirs: tc.dirs}.Files()
		if err != nil || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("Files(%v) = %v, %v; want %v", tc.dirs, got, err, tc.want)
		}
	}
}
