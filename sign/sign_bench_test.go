package sign

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSignFile signs a 64 MiB file with a 2048-bit RSA key: our side
// alone; `mage bench sign` compares with gpg --detach-sign:
// go test -run '^$' -bench SignFile ./sign
func BenchmarkSignFile(b *testing.B) {
	dir := b.TempDir()
	key := filepath.Join(dir, "key")
	if _, err := GenKey(key, Identity{Name: "rktbuild bench", Comment: "throwaway", Email: "bench@rktbuild.invalid"}, 2048, nil); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i*131 + i>>9)
	}
	file := filepath.Join(dir, "artifact.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := SignFile(file, key, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := VerifyFile(file, file+SignatureSuffix, key); err != nil {
		b.Fatalf("the signature does not verify: %v", err)
	}
}
