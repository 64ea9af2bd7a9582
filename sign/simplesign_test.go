package sign

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

func TestSimpleSign(t *testing.T) {
	signer, err := LoadSigner(keyA+PrivateKeySuffix, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Second)
	const ref, digest = "registry.example:8443/example.com/base:12.8", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	sig, err := SimpleSign(signer, ref, digest, at)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SimpleSign(signer, ref, digest, at)
	if !bytes.Equal(sig, again) {
		t.Errorf("same inputs, different signatures: publishing twice would change the tree")
	}
	ring := func(base string) openpgp.EntityList {
		e, err := ReadKeyFile(base + PublicKeySuffix)
		if err != nil {
			t.Fatal(err)
		}
		return openpgp.EntityList{e}
	}
	tampered := append([]byte(nil), sig...)
	i := bytes.Index(tampered, []byte("12.8"))
	tampered[i] = '9' // the signed payload now names another tag
	tests := []struct {
		name    string
		keys    openpgp.EntityList
		sig     []byte
		wantErr string
	}{
		{"good", ring(keyA), sig, ""},
		{"other key", ring(keyB), sig, "not signed by a known key"},
		{"tampered payload", ring(keyA), tampered, "bad signature"},
		{"garbage", ring(keyA), []byte("not a signature"), "simple signing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, signerID, err := VerifySimple(tt.keys, tt.sig)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Critical.Identity.DockerReference != ref || p.Critical.Image.DockerManifestDigest != digest || !strings.Contains(signerID, "carly@example.com") {
					t.Errorf("payload %+v signer %q", p, signerID)
				}
				return
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	// GnuPG (what podman's gpgme uses) verifies it and prints the payload.
	g := needGPG(t)
	g.must("--import", keyA+PublicKeySuffix)
	f := filepath.Join(t.TempDir(), "signature-1")
	os.WriteFile(f, sig, 0o644)
	out := g.must("--status-fd", "1", "--decrypt", f)
	if !strings.Contains(out, "[GNUPG:] GOODSIG") || !strings.Contains(out, `"docker-reference":"`+ref+`"`) {
		t.Errorf("gpg --decrypt of the signature:\n%s", out)
	}
	os.WriteFile(f, tampered, 0o644)
	if out, err := g.run("--status-fd", "1", "--decrypt", f); err == nil || strings.Contains(out, "GOODSIG") {
		t.Errorf("gpg accepted a tampered signature:\n%s", out)
	}
}
