package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/sign"
)

// TestTrustNeedsFingerprint is the regression test for sign:trust trusting
// a key silently: sign:trust is an alias of trust, whose body is trustKeys,
// which adds a key
// only when its fingerprint is given (or confirmed on a terminal; tests run
// without one).
func TestTrustNeedsFingerprint(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "k")
	fpr, err := sign.GenKey(base, sign.Identity{Name: "t", Comment: "trust test", Email: "t@example.test"}, 2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{TrustDir: filepath.Join(tmp, "trust")}
	opts := func(f string) fetch.TrustOptions {
		return fetch.TrustOptions{Store: sign.TrustStore{Dir: c.TrustDir}, KeyFile: base + sign.PublicKeySuffix, Prefix: "example.com/app", Fingerprint: f}
	}
	stored := filepath.Join(c.TrustDir, "prefix.d", "example.com", "app", strings.ToLower(fpr))
	tests := []struct {
		name, fpr, wantErr string
		trusted            bool
	}{
		{name: "no fingerprint, no terminal", fpr: "", wantErr: fpr},
		{name: "wrong fingerprint", fpr: strings.Repeat("ab", 20), wantErr: fpr},
		{name: "matching fingerprint", fpr: fpr, trusted: true},
	}
	for _, tt := range tests {
		err := trustKeys(context.Background(), c, opts(tt.fpr))
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want one naming the offered key %s", tt.name, err, tt.wantErr)
		}
		if tt.wantErr == "" && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if _, serr := os.Stat(stored); (serr == nil) != tt.trusted {
			t.Errorf("%s: key stored = %v, want %v", tt.name, serr == nil, tt.trusted)
		}
	}
}
