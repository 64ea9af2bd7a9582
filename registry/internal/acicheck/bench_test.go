package acicheck

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// BenchmarkCheck measures the streaming check (decompress, image ID, header
// rules) on a 64 MiB half-random, half-text image held in memory.
func BenchmarkCheck(b *testing.B) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "manifest", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("{}"))
	tw.WriteHeader(&tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755})
	chunk := make([]byte, 1<<20)
	var size int64
	for i := 0; i < 64; i++ {
		rand.Read(chunk)
		data := chunk
		if i%2 == 1 {
			data = []byte(base64.StdEncoding.EncodeToString(chunk[:3<<18]))
		}
		tw.WriteHeader(&tar.Header{Name: "rootfs/f" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
		size += int64(len(data))
	}
	tw.Close()
	zw.Close()
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Check(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
