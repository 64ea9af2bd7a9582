package aci

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha512"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

// checkSequential is Check as it was before the pipeline: decompression,
// sha512 and the tar scan on one goroutine. It stays here as the
// benchmark's baseline.
func checkSequential(r io.Reader) (CheckResult, error) {
	var res CheckResult
	raw, closer, err := decompressStream(r)
	if err != nil {
		return res, err
	}
	if closer != nil {
		defer closer()
	}
	h := sha512.New()
	tee := io.TeeReader(raw, h)
	res.Manifest, res.Entries, err = scanArchive(tar.NewReader(tee))
	if err != nil {
		return res, err
	}
	if _, err := io.Copy(h, raw); err != nil {
		return res, err
	}
	res.ID = formatID(h.Sum(nil))
	return res, nil
}

// benchImage packs a 64 MB image (testutil.WritePayload: half random,
// half base64 text) once per benchmark binary.
func benchImage(b *testing.B) []byte {
	b.Helper()
	dir := b.TempDir()
	testutil.WritePayload(b, filepath.Join(dir, "rootfs", "usr", "lib"), 64)
	m, err := NewManifest("example.com/bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "bench.aci")
	if _, err := PackRootfs(context.Background(), m, filepath.Join(dir, "rootfs"), out, PackOptions{ForceRoot: true}); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkCheckPipeline compares the pipelined Check with the sequential one on
// the same image: go test -run - -bench CheckPipeline -count 5 ./format/aci
func BenchmarkCheckPipeline(b *testing.B) {
	img := benchImage(b)
	want, err := checkSequential(bytes.NewReader(img))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fn   func(io.Reader) (CheckResult, error)
	}{{"sequential", checkSequential}, {"pipelined", Check}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(img)))
			for i := 0; i < b.N; i++ {
				res, err := c.fn(bytes.NewReader(img))
				if err != nil || res.ID != want.ID {
					b.Fatalf("%s: %v, id %s want %s", c.name, err, res.ID, want.ID)
				}
			}
		})
	}
}
