package aci

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds adds every file of testdata/aci/fuzz-check/ as a seed.
func fuzzSeeds(f *testing.F, dir string) {
	seeds, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzCheck feeds arbitrary bytes to the streaming manifest/tar checker
// used while downloading and to Validate (used on files): they must never
// panic, must agree on accepting or refusing, and an accepted image must
// carry a manifest that parses and an image ID.
func FuzzCheck(f *testing.F) {
	fuzzSeeds(f, filepath.Join("..", "..", "testdata", "aci", "fuzz-check"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(okManifest))})
	tw.Write([]byte(okManifest))
	tw.WriteHeader(&tar.Header{Name: "rootfs", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "rootfs/a", Typeflag: tar.TypeSymlink, Linkname: "b", Mode: 0o777})
	tw.Close()
	f.Add(buf.Bytes())
	dir := f.TempDir()
	file := filepath.Join(dir, "fuzz.aci")
	f.Fuzz(func(t *testing.T, data []byte) {
		res, checkErr := Check(bytes.NewReader(data))
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		valErr := Validate(file)
		if (checkErr == nil) != (valErr == nil) {
			t.Fatalf("Check and Validate disagree: Check: %v; Validate: %v", checkErr, valErr)
		}
		if checkErr != nil {
			return
		}
		if _, err := ParseManifest("manifest", res.Manifest); err != nil {
			t.Fatalf("accepted an image whose manifest does not parse: %v", err)
		}
		if len(res.ID) != len("sha512-")+128 {
			t.Fatalf("accepted image has ID %q", res.ID)
		}
	})
}
