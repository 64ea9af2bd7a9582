package sign

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	xopenpgp "golang.org/x/crypto/openpgp" //nolint:staticcheck // rkt's reader
)

func TestTrustLayout(t *testing.T) {
	ts := TrustStore{Dir: filepath.Join(t.TempDir(), "trustedkeys")}
	pub, _ := os.ReadFile(keyA + PublicKeySuffix)
	fpr, err := ts.Trust("example.com/images", pub)
	if err != nil {
		t.Fatal(err)
	}
	if fpr != fprA {
		t.Fatalf("Trust returned %s, want %s", fpr, fprA)
	}
	path := filepath.Join(ts.Dir, "prefix.d", "example.com", "images", fprA)
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("key not at rkt's path: %v", err)
	}
	if !bytes.Equal(stored, pub) {
		t.Errorf("stored key differs from the armored key given")
	}
	// rkt reads it with x/crypto and requires file name == fingerprint.
	kr, err := xopenpgp.ReadArmoredKeyRing(bytes.NewReader(stored))
	if err != nil || len(kr) != 1 {
		t.Fatalf("x/crypto reading the stored key: %v", err)
	}
	if got := strings.ToLower(hexString(kr[0].PrimaryKey.Fingerprint[:])); got != filepath.Base(path) {
		t.Errorf("x/crypto fingerprint %s != file name %s", got, filepath.Base(path))
	}
	// Root keys.
	if _, err := ts.Trust("", pub); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ts.Dir, "root.d", fprA)); err != nil {
		t.Errorf("root key: %v", err)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestTrustRefuses(t *testing.T) {
	ts := TrustStore{Dir: t.TempDir()}
	pub, _ := os.ReadFile(keyA + PublicKeySuffix)
	priv, _ := os.ReadFile(keyA + PrivateKeySuffix)
	two := append(append([]byte(nil), pub...), mustRead(t, keyB+PublicKeySuffix)...)
	for _, tc := range []struct {
		name, prefix string
		key          []byte
		want         string
	}{
		{"uppercase prefix", "Example.com", pub, "prefix"},
		{"dot-dot prefix", "example.com/../x", pub, "prefix"},
		{"absolute prefix", "/etc", pub, "prefix"},
		{"private key", "example.com", priv, "private key"},
		{"two armored keys", "example.com", two, "2 armored keys"},
		{"two keys in one block", "example.com", armorTwo(t), "2 keys"},
		{"trailing slash", "example.com/", pub, "prefix"},
		{"garbage", "example.com", []byte("hello"), "not a readable OpenPGP key"},
		{"empty", "example.com", nil, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ts.Trust(tc.prefix, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Trust: %v, want error containing %q", err, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(ts.Dir); len(ents) != 0 {
		t.Errorf("failed Trust wrote %v", ents)
	}
}

// armorTwo returns keys A and B in one armored block.
func armorTwo(t *testing.T) []byte {
	var buf bytes.Buffer
	err := writeArmored(&buf, "PGP PUBLIC KEY BLOCK", func(w io.Writer) error {
		for _, k := range []string{keyA, keyB} {
			e, err := ReadKeyFile(k + PublicKeySuffix)
			if err != nil {
				return err
			}
			if err := e.Serialize(w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTrustVerify(t *testing.T) {
	data := artifact()
	f := writeData(t, "x.aci", data)
	if err := SignFile(f, keyA, nil); err != nil {
		t.Fatal(err)
	}
	sig := mustRead(t, f+SignatureSuffix)
	pubA, pubB := mustRead(t, keyA+PublicKeySuffix), mustRead(t, keyB+PublicKeySuffix)

	type trust struct {
		prefix string // "" = root.d
		key    []byte
	}
	for _, tc := range []struct {
		name   string
		trusts []trust
		mask   string // prefix under which to mask key A with an empty file
		image  string
		want   error // nil = good signature by A
	}{
		{"exact prefix", []trust{{"example.com/app", pubA}}, "", "example.com/app", nil},
		{"name below prefix", []trust{{"example.com", pubA}}, "", "example.com/app/stage1", nil},
		{"rkt string-prefix rule", []trust{{"example.com/app", pubA}}, "", "example.com/application", nil},
		{"root key", []trust{{"", pubA}}, "", "other.org/anything", nil},
		{"other prefix", []trust{{"example.com/app", pubA}}, "", "example.org/app", ErrUnknownKey},
		{"sibling prefix", []trust{{"example.com/app", pubA}}, "", "example.com/other", ErrUnknownKey},
		{"longer prefix only", []trust{{"example.com/app/sub", pubA}}, "", "example.com/app", ErrUnknownKey},
		{"wrong key trusted", []trust{{"example.com", pubB}}, "", "example.com/app", ErrUnknownKey},
		{"both keys trusted", []trust{{"example.com", pubB}, {"example.com/app", pubA}}, "", "example.com/app", nil},
		{"empty store", nil, "", "example.com/app", ErrUnknownKey},
		{"masked below root", []trust{{"", pubA}}, "example.com", "example.com/app", ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := TrustStore{Dir: t.TempDir()}
			for _, tr := range tc.trusts {
				if _, err := ts.Trust(tr.prefix, tr.key); err != nil {
					t.Fatal(err)
				}
			}
			if tc.mask != "" {
				p := filepath.Join(ts.PrefixDir(), tc.mask, fprA)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, nil, 0o644)
			}
			signer, err := ts.Verify(tc.image, bytes.NewReader(data), bytes.NewReader(sig))
			if tc.want == nil {
				if err != nil || signer != idA.String() {
					t.Fatalf("Verify = %q, %v; want good signature by %s", signer, err, idA)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.image) {
				t.Fatalf("Verify: %v; want %v naming %s", err, tc.want, tc.image)
			}
		})
	}
}

func TestTrustVerifyFailures(t *testing.T) {
	data := artifact()
	f := writeData(t, "x.aci", data)
	if err := SignFile(f, keyA, nil); err != nil {
		t.Fatal(err)
	}
	sig := mustRead(t, f+SignatureSuffix)
	ts := TrustStore{Dir: t.TempDir()}
	if _, err := ts.Trust("example.com", mustRead(t, keyA+PublicKeySuffix)); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), data...)
	changed[100] ^= 0x80
	if _, err := ts.Verify("example.com/x", bytes.NewReader(changed), bytes.NewReader(sig)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed data: %v", err)
	}
	if _, err := ts.Verify("example.com/x", bytes.NewReader(data), bytes.NewReader(sig[:40])); !errors.Is(err, ErrNotSignature) {
		t.Errorf("truncated signature: %v", err)
	}
	if _, err := ts.Verify("Bad Name", bytes.NewReader(data), bytes.NewReader(sig)); err == nil || !strings.Contains(err.Error(), "Bad Name") {
		t.Errorf("invalid name: %v", err)
	}
	// A reader that was already consumed is rewound.
	r := bytes.NewReader(data)
	r.Seek(0, 2)
	if _, err := ts.Verify("example.com/x", r, bytes.NewReader(sig)); err != nil {
		t.Errorf("Verify does not rewind signed: %v", err)
	}
	// A key file not named by its fingerprint is an error, as in rkt.
	wrong := filepath.Join(ts.PrefixDir(), "example.com", fprB)
	os.WriteFile(wrong, mustRead(t, keyA+PublicKeySuffix), 0o644)
	if _, err := ts.Verify("example.com/x", bytes.NewReader(data), bytes.NewReader(sig)); err == nil || !strings.Contains(err.Error(), "file name must be the key's fingerprint") {
		t.Errorf("misnamed key file: %v", err)
	}
}
