package sign

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKeyPairExists(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  bool
	}{
		{"none", nil, false},
		{"private only", []string{PrivateKeySuffix}, false},
		{"public only", []string{PublicKeySuffix}, false},
		{"both", []string{PrivateKeySuffix, PublicKeySuffix}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "k")
			for _, suffix := range tc.files {
				if err := os.WriteFile(base+suffix, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := KeyPairExists(base); got != tc.want {
				t.Errorf("KeyPairExists = %v, want %v", got, tc.want)
			}
		})
	}
}
