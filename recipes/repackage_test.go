package recipes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
)

// TestRepackage renames images from a file, from a recipe output found by
// reference and from the store (a blob named by its ID), and checks the
// output file name, manifest and signature; an unknown source is an
// error that says so.
func TestRepackage(t *testing.T) {
	tmp := t.TempDir()
	aciDir := filepath.Join(tmp, "aci")
	file := filepath.Join(aciDir, "app.aci")
	packTiny(t, file, "example.com/app", "1.0.0")
	s, err := store.Open(filepath.Join(tmp, "store"))
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(tmp, "fetched.aci")
	id := packTiny(t, stored, "example.com/fetched", "2.0.0")
	storeImage(t, s, stored, id, "example.com/fetched", "2.0.0")
	key := filepath.Join(tmp, "keys", "k")
	if _, err := sign.GenKey(key, sign.Identity{Name: "repack", Comment: "test", Email: "repack@example.test"}, 2048, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	for _, tc := range []struct {
		src, name string
		labels    map[string]string
		want      string
		err       string
	}{
		{src: file, name: "mirror.example/app", want: "app-1.0.0-linux-amd64.aci"},
		{src: "example.com/app:1.0.0", name: "mirror.example/tools/app", labels: map[string]string{"version": "1.1", "arch": "amd64"}, want: "app-1.1-linux-amd64.aci"},
		{src: "example.com/fetched", name: "mirror.example/fetched", labels: map[string]string{"os": ""}, want: "fetched-2.0.0-amd64.aci"},
		{src: "example.com/none", name: "mirror.example/none", err: "neither a file nor a known image"},
		{src: file, name: "Bad Name", err: "invalid image name"},
	} {
		t.Run(tc.src+"->"+tc.name, func(t *testing.T) {
			got, _, err := Repackage(context.Background(), RepackageOptions{
				Src: tc.src, Name: tc.name, Labels: tc.labels, OutDir: out, TempDir: filepath.Join(tmp, "scratch"),
				Locator: Locator{Dirs: []string{aciDir}, StoreDir: s.Dir}, Signer: sign.NewSigner(sign.SignerOptions{Base: key}),
			})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Repackage = %s, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != filepath.Join(out, tc.want) {
				t.Fatalf("Repackage = %s, %v; want %s", got, err, tc.want)
			}
			im, err := aci.Open(got)
			if err != nil || im.Name() != tc.name {
				t.Fatalf("repackaged image %v, %v; want name %s", im, err, tc.name)
			}
			for k, v := range tc.labels {
				if got, ok := im.Labels()[k]; (v == "") == ok || got != v {
					t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			if _, err := sign.VerifyFile(got, "", key); err != nil {
				t.Error(err)
			}
		})
	}
	if left, _ := os.ReadDir(filepath.Join(tmp, "scratch")); len(left) > 0 {
		t.Errorf("scratch left behind: %v", left)
	}
}
