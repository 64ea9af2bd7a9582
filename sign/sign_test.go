package sign

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestIdentityValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   Identity
		want string // substring of the error; "" means valid
	}{
		{"complete", idA, ""},
		{"no name", Identity{"", "c", "e@x"}, "missing KEY_USE_NAME"},
		{"no comment", Identity{"n", "", "e@x"}, "missing KEY_USE_COMMENT"},
		{"no email", Identity{"n", "c", " "}, "missing KEY_USE_EMAIL"},
		{"none", Identity{}, "missing KEY_USE_NAME, KEY_USE_COMMENT, KEY_USE_EMAIL: set them"},
		{"parenthesis", Identity{"n (x)", "c", "e@x"}, "KEY_USE_NAME="},
		{"angle bracket", Identity{"n", "c", "<e@x>"}, "KEY_USE_EMAIL="},
		{"not an address", Identity{"n", "c", "nobody"}, "not an e-mail address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.id.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if got, want := idA.String(), "Carly Container (ACI signing key) <carly@example.com>"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestIdentityFromEnv(t *testing.T) {
	env := map[string]string{"KEY_USE_NAME": "n", "KEY_USE_EMAIL": "e@x"}
	_, err := IdentityFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "missing KEY_USE_COMMENT") {
		t.Fatalf("IdentityFromEnv without KEY_USE_COMMENT: %v", err)
	}
	env["KEY_USE_COMMENT"] = "c"
	id, err := IdentityFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || id.String() != "n (c) <e@x>" {
		t.Fatalf("IdentityFromEnv = %v, %v", id, err)
	}
}

func TestGenKeyFiles(t *testing.T) {
	for _, tc := range []struct {
		base, fpr, typ string
		perm           os.FileMode
	}{
		{keyA + PrivateKeySuffix, fprA, "PGP PRIVATE KEY BLOCK", 0o600},
		{keyA + PublicKeySuffix, fprA, "PGP PUBLIC KEY BLOCK", 0o644},
		{keyP + PrivateKeySuffix, fprP, "PGP PRIVATE KEY BLOCK", 0o600},
	} {
		fi, err := os.Stat(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.perm {
			t.Errorf("%s: mode %v, want %v", tc.base, fi.Mode().Perm(), tc.perm)
		}
		data, _ := os.ReadFile(tc.base)
		block, err := armor.Decode(bytes.NewReader(data))
		if err != nil || block.Type != tc.typ {
			t.Fatalf("%s: armor %v, type %q, want %q", tc.base, err, block.Type, tc.typ)
		}
		info, err := Identify(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		if info.Fingerprint != tc.fpr || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(info.Fingerprint) {
			t.Errorf("%s: fingerprint %q, want %q (40 lowercase hex)", tc.base, info.Fingerprint, tc.fpr)
		}
		if info.Algorithm != "rsa2048" {
			t.Errorf("%s: algorithm %s, want rsa2048", tc.base, info.Algorithm)
		}
	}
	info, _ := Identify(keyA + PublicKeySuffix)
	if info.UserID != idA.String() || info.Private {
		t.Errorf("Identify(pub) = %+v", info)
	}
	info, _ = Identify(keyP + PrivateKeySuffix)
	if !info.Private || !info.Encrypted {
		t.Errorf("Identify(protected) = %+v, want a passphrase-protected private key", info)
	}
	// The key is an RSA primary key only, flagged to sign and certify.
	e, err := ReadKeyFile(keyA + PublicKeySuffix)
	if err != nil {
		t.Fatal(err)
	}
	if e.PrimaryKey.PubKeyAlgo != packet.PubKeyAlgoRSA || len(e.Subkeys) != 0 {
		t.Errorf("key: algorithm %v with %d subkeys, want RSA primary only", e.PrimaryKey.PubKeyAlgo, len(e.Subkeys))
	}
	ss := e.PrimaryIdentity().SelfSignature
	if !ss.FlagsValid || !ss.FlagSign || !ss.FlagCertify {
		t.Errorf("self-signature flags: valid=%v sign=%v certify=%v", ss.FlagsValid, ss.FlagSign, ss.FlagCertify)
	}
}

func TestGenKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		base string
		id   Identity
		bits int
		want string
	}{
		{"existing key", keyA, idA, 2048, "already exists"},
		{"weak key", filepath.Join(dir, "weak"), idA, 1024, "too weak"},
		{"missing email", filepath.Join(dir, "noid"), Identity{"n", "c", ""}, 2048, "missing KEY_USE_EMAIL"},
		{"empty base", "", idA, 2048, "empty key base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.base + PrivateKeySuffix)
			_, err := GenKey(tc.base, tc.id, tc.bits, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("GenKey: %v, want error containing %q", err, tc.want)
			}
			after, _ := os.ReadFile(tc.base + PrivateKeySuffix)
			if !bytes.Equal(before, after) {
				t.Fatalf("GenKey changed %s after failing", tc.base+PrivateKeySuffix)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed GenKey left files: %v", ents)
	}
}

func TestGenKeyDefault4096(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 4096-bit key generation takes seconds")
	}
	base := filepath.Join(t.TempDir(), "big")
	fpr, err := GenKey(base, idA, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Identify(base + PublicKeySuffix)
	if err != nil || info.Algorithm != "rsa4096" || info.Fingerprint != fpr {
		t.Fatalf("default key: %+v, %v; want rsa4096 with fingerprint %s", info, err, fpr)
	}
}

// TestSignatureFormat checks what rkt and GnuPG rely on: an armored
// "PGP SIGNATURE" block with the CRC24 line, holding one v4 binary
// signature by the primary key over SHA-256.
func TestSignatureFormat(t *testing.T) {
	f := writeData(t, "x.aci", artifact())
	if err := SignFile(f, keyA+PrivateKeySuffix, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f + SignatureSuffix)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.HasPrefix(text, "-----BEGIN PGP SIGNATURE-----\n") || !strings.HasSuffix(text, "-----END PGP SIGNATURE-----\n") {
		t.Fatalf("not an armored signature:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^=[A-Za-z0-9+/]{4}\n-----END PGP SIGNATURE-----`).MatchString(text) {
		t.Fatalf("armor has no CRC24 line before the END line:\n%s", text)
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		t.Fatal(err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		t.Fatalf("packet %T, want signature", p)
	}
	e, _ := ReadKeyFile(keyA + PublicKeySuffix)
	if sig.Version != 4 || sig.SigType != packet.SigTypeBinary || sig.Hash != crypto.SHA256 ||
		sig.PubKeyAlgo != packet.PubKeyAlgoRSA || sig.IssuerKeyId == nil || *sig.IssuerKeyId != e.PrimaryKey.KeyId {
		t.Fatalf("signature: v%d type %v hash %v algo %v issuer %v; want v4 binary SHA-256 RSA by primary %X",
			sig.Version, sig.SigType, sig.Hash, sig.PubKeyAlgo, sig.IssuerKeyId, e.PrimaryKey.KeyId)
	}
	if len(sig.Notations) != 0 {
		t.Errorf("signature carries %d notations, want none (old verifiers)", len(sig.Notations))
	}
	if fi, _ := os.Stat(f + SignatureSuffix); fi.Mode().Perm() != 0o644 {
		t.Errorf("signature mode %v, want 0644", fi.Mode().Perm())
	}
	signer, err := VerifyFile(f, "", keyA)
	if err != nil || signer != idA.String() {
		t.Fatalf("VerifyFile = %q, %v", signer, err)
	}
}

func TestSignPassphrase(t *testing.T) {
	f := writeData(t, "x.aci", artifact())
	for _, tc := range []struct {
		name string
		key  string
		pass []byte
		want string // "" means success
	}{
		{"protected, right passphrase", keyP, passP, ""},
		{"protected, no passphrase", keyP, nil, "SIGNING_PASSPHRASE_FILE or KEY_PASSPHRASE"},
		{"protected, wrong passphrase", keyP, []byte("wrong"), "wrong passphrase"},
		{"unprotected, passphrase ignored", keyA, []byte("unused"), ""},
		{"public key", keyA + PublicKeySuffix, nil, "signing needs the private key"},
		{"missing key", filepath.Join(t.TempDir(), "nokey"), nil, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(f + SignatureSuffix)
			err := SignFile(f, tc.key, tc.pass)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := VerifyFile(f, "", tc.key); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SignFile: %v, want error containing %q", err, tc.want)
			}
			if _, err := os.Stat(f + SignatureSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed SignFile left %s", f+SignatureSuffix)
			}
		})
	}
}

func TestSignMissingFile(t *testing.T) {
	dir := t.TempDir()
	err := SignFile(filepath.Join(dir, "nope.aci"), keyA, nil)
	if err == nil || !strings.Contains(err.Error(), "nope.aci") {
		t.Fatalf("SignFile(missing) = %v, want an error naming the file", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left files behind: %v", ents)
	}
}
