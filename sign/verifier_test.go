package sign

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// writeEdKey writes an EdDSA key pair at base (BASE.key.asc, BASE.pub.asc):
// a key go-crypto reads but rkt cannot.
func writeEdKey(t *testing.T, base string) {
	t.Helper()
	e, err := openpgp.NewEntity("Ed", "eddsa", "ed@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(writeArmored(&priv, openpgp.PrivateKeyType, func(w io.Writer) error { return e.SerializePrivate(w, nil) }))
	must(writeArmored(&pub, openpgp.PublicKeyType, e.Serialize))
	must(os.WriteFile(base+PrivateKeySuffix, priv.Bytes(), 0o600))
	must(os.WriteFile(base+PublicKeySuffix, pub.Bytes(), 0o644))
}

// TestVerifierPolicy: a key the trust store trusts for the name, or else
// one of Keys (this machine's own key, publishing keys), must have made
// the signature; a bad signature (changed data) is never retried with
// another key.
func TestVerifierPolicy(t *testing.T) {
	ctx := context.Background()
	ts := TrustStore{Dir: t.TempDir()}
	if _, err := ts.Trust("example.com/trusted", mustRead(t, keyA+PublicKeySuffix)); err != nil {
		t.Fatal(err)
	}
	byA := writeData(t, "a.aci", artifact())
	must(t, SignFile(byA, keyA, nil))
	byB := writeData(t, "b.aci", artifact())
	must(t, SignFile(byB, keyB, nil))
	changed := writeData(t, "c.aci", artifact())
	must(t, SignFile(changed, keyA, nil))
	must(t, os.WriteFile(changed, append(artifact(), 'x'), 0o644))
	unsigned := writeData(t, "u.aci", artifact())

	for _, tc := range []struct {
		name, what string
		v          Verifier
		image      string
		file       string
		want, err  string
	}{
		{"store key for its prefix", "", Verifier{Trust: ts}, "example.com/trusted/app", byA, idA.String(), ""},
		{"store key, other prefix", "", Verifier{Trust: ts}, "example.org/app", byA, "", "no key in"},
		{"own key when the store has none for the name", "", Verifier{Trust: ts, Keys: []string{keyB}}, "example.org/app", byB, idB.String(), ""},
		{"own key accepted beside the store's keys", "", Verifier{Trust: ts, Keys: []string{keyB}}, "example.com/trusted/app", byB, idB.String(), ""},
		{"neither store nor own key", "", Verifier{Trust: ts, Keys: []string{keyB}}, "example.com/trusted/app", byA2(t), "", "and not by"},
		{"key file list only", "", Verifier{Keys: []string{keyA + PublicKeySuffix}}, "", byA, idA.String(), ""},
		{"wrong key", "", Verifier{Keys: []string{keyB}}, "", byA, "", "made by"},
		{"changed data", "", Verifier{Trust: ts}, "example.com/trusted/app", changed, "", "does not match"},
		{"missing own key is skipped", "", Verifier{Keys: []string{filepath.Join(t.TempDir(), "none")}}, "", byA, "", "no public key"},
		{"unsigned", "", Verifier{Trust: ts}, "example.com/trusted/app", unsigned, "", "is not signed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.v.VerifyFile(ctx, tc.image, tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("VerifyFile = %q, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("VerifyFile = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestRktUnreadableKeysRefusedEverywhere: an EdDSA key is refused when
// signing with it, ensuring it as the signing key, trusting it, finding it
// in the trust store and verifying with it — each time with the reason.
func TestRktUnreadableKeysRefusedEverywhere(t *testing.T) {
	quietOutput(t)
	ctx := context.Background()
	dir := t.TempDir()
	ed := filepath.Join(dir, "ed")
	writeEdKey(t, ed)
	f := writeData(t, "x.aci", artifact())
	must(t, SignFile(f, keyA, nil))
	ts := TrustStore{Dir: filepath.Join(dir, "trust")}
	planted := filepath.Join(ts.PrefixDir(), "example.com")
	must(t, os.MkdirAll(planted, 0o755))
	edInfo, err := Identify(ed + PublicKeySuffix)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(planted, edInfo.Fingerprint), mustRead(t, ed+PublicKeySuffix), 0o644))

	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"sign", func() error { return SignFile(f, ed, nil) }},
		{"ensure", func() error { _, _, err := NewSigner(SignerOptions{Base: ed}).Ensure(ctx); return err }},
		{"signer sign", func() error { return NewSigner(SignerOptions{Base: ed}).SignFile(ctx, f) }},
		{"trust", func() error {
			_, err := TrustStore{Dir: filepath.Join(dir, "t2")}.Trust("example.com", mustRead(t, ed+PublicKeySuffix))
			return err
		}},
		{"key in trust store", func() error { _, err := (Verifier{Trust: ts}).VerifyFile(ctx, "example.com/app", f); return err }},
		{"verify with key", func() error { _, err := VerifyFile(f, "", ed); return err }},
		{"verifier key", func() error { _, err := (Verifier{Keys: []string{ed}}).VerifyFile(ctx, "", f); return err }},
	} {
		err := tc.do()
		if !errors.Is(err, ErrRktUnreadable) || !strings.Contains(err.Error(), "eddsa") || !strings.Contains(err.Error(), "RSA or DSA") {
			t.Errorf("%s with an EdDSA key: %v; want ErrRktUnreadable naming the algorithm and what rkt reads", tc.name, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// byA2 is an artifact signed by a third key, trusted nowhere.
func byA2(t *testing.T) string {
	t.Helper()
	f := writeData(t, "p.aci", artifact())
	must(t, SignFile(f, keyP, passP))
	return f
}
