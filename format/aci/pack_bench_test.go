package aci

import (
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// packBenchTree copies up to 64 MB of the host's libraries and shared
// data into dir/rootfs: real files compress as a rootfs does, unlike
// generated ones. It returns the bytes copied.
func packBenchTree(b *testing.B, dir string) int64 {
	b.Helper()
	var total int64
	for _, src := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/bin"} {
		filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || total >= 64<<20 {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil || len(data) > 8<<20 {
				return nil
			}
			dst := filepath.Join(dir, "rootfs", p)
			if os.MkdirAll(filepath.Dir(dst), 0o755) != nil || os.WriteFile(dst, data, 0o644) != nil {
				return nil
			}
			total += int64(len(data))
			return nil
		})
	}
	if total < 16<<20 {
		b.Skipf("the host has only %d bytes of /usr files to pack; need 16 MiB", total)
	}
	return total
}

// BenchmarkPack packs the same tree at each level and reports the output
// size relative to Go's compress/gzip at level 6 (what actool writes) on
// the tar stream of the same tree: go test -run '^$' -bench Pack ./format/aci
// (bench aci compares with actool itself).
func BenchmarkPack(b *testing.B) {
	dir := b.TempDir()
	size := packBenchTree(b, dir)
	m, err := NewManifest("example.com/packbench", nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The peer's size: the uncompressed image through compress/gzip -6.
	raw := filepath.Join(dir, "raw.aci")
	if _, err := PackRootfs(ctx, m, filepath.Join(dir, "rootfs"), raw, PackOptions{ForceRoot: true, Level: 1, Epoch: 1, HasEpoch: true}); err != nil {
		b.Fatal(err)
	}
	peerSize := gzipSize(b, raw)
	for _, level := range []int{FastLevel, 4, DefaultLevel, 6} {
		b.Run("level="+string(rune('0'+level)), func(b *testing.B) {
			out := filepath.Join(dir, "out.aci")
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				if _, err := PackRootfs(ctx, m, filepath.Join(dir, "rootfs"), out, PackOptions{ForceRoot: true, Level: level, Epoch: 1, HasEpoch: true}); err != nil {
					b.Fatal(err)
				}
			}
			fi, err := os.Stat(out)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/float64(peerSize), "x-stdgzip6-size")
		})
	}
}

// gzipSize is the size of file's decompressed content recompressed with
// compress/gzip at level 6.
func gzipSize(b *testing.B, file string) int64 {
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	cw := &countWriter{}
	zw, _ := gzip.NewWriterLevel(cw, 6)
	if _, err := io.Copy(zw, zr); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return cw.n
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
