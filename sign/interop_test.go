package sign

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	xopenpgp "golang.org/x/crypto/openpgp" //nolint:staticcheck // rkt links this deprecated package; we test against it on purpose.
	xerrors "golang.org/x/crypto/openpgp/errors"
)

// xVerify verifies an armored detached signature the way rkt does, with
// the historical golang.org/x/crypto/openpgp, and returns the signer's
// user ID.
func xVerify(pubFile, dataFile, sigFile string) (string, error) {
	pub, err := os.Open(pubFile)
	if err != nil {
		return "", err
	}
	defer pub.Close()
	kr, err := xopenpgp.ReadArmoredKeyRing(pub)
	if err != nil {
		return "", fmt.Errorf("x/crypto reading %s: %w", pubFile, err)
	}
	data, err := os.Open(dataFile)
	if err != nil {
		return "", err
	}
	defer data.Close()
	sig, err := os.Open(sigFile)
	if err != nil {
		return "", err
	}
	defer sig.Close()
	e, err := xopenpgp.CheckArmoredDetachedSignature(kr, data, sig)
	if err != nil {
		return "", err
	}
	for name := range e.Identities {
		return name, nil
	}
	return "", errors.New("signer has no identity")
}

func TestXCryptoVerifiesOurs(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		pass []byte
		id   string
	}{
		{"unprotected key", keyA, nil, idA.String()},
		{"passphrase-protected key", keyP, passP, "Protected (passphrase) <p@example.com>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeData(t, "x.aci", artifact())
			if err := SignFile(f, tc.key, tc.pass); err != nil {
				t.Fatal(err)
			}
			signer, err := xVerify(tc.key+PublicKeySuffix, f, f+SignatureSuffix)
			if err != nil {
				t.Fatalf("golang.org/x/crypto/openpgp rejects our signature: %v", err)
			}
			if signer != tc.id {
				t.Fatalf("x/crypto signer %q, want %q", signer, tc.id)
			}
		})
	}
}

// TestXCryptoReadsOurPrivateKey: tools built on x/crypto (as the original
// gpg-sign-tool was) can use our key files, protected or not.
func TestXCryptoReadsOurPrivateKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		pass []byte
	}{{keyA, nil}, {keyP, passP}} {
		f, err := os.Open(tc.key + PrivateKeySuffix)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := xopenpgp.ReadArmoredKeyRing(f)
		f.Close()
		if err != nil || len(kr) != 1 || kr[0].PrivateKey == nil {
			t.Fatalf("x/crypto reading %s: %v", tc.key+PrivateKeySuffix, err)
		}
		if kr[0].PrivateKey.Encrypted != (tc.pass != nil) {
			t.Fatalf("%s: x/crypto sees encrypted=%v", tc.key, kr[0].PrivateKey.Encrypted)
		}
		if tc.pass != nil {
			if err := kr[0].PrivateKey.Decrypt(tc.pass); err != nil {
				t.Fatalf("x/crypto cannot decrypt our protected key: %v", err)
			}
		}
		data := writeData(t, "d", []byte("signed by x/crypto"))
		var sig bytes.Buffer
		if err := xopenpgp.ArmoredDetachSign(&sig, kr[0], bytes.NewReader([]byte("signed by x/crypto")), nil); err != nil {
			t.Fatal(err)
		}
		sigFile := data + ".asc"
		os.WriteFile(sigFile, sig.Bytes(), 0o644)
		if _, err := VerifyFile(data, sigFile, tc.key); err != nil {
			t.Fatalf("we reject x/crypto's signature with our key: %v", err)
		}
	}
}

func TestGnuPGVerifiesOurs(t *testing.T) {
	g := needGPG(t)
	for _, tc := range []struct {
		key, fpr string
		pass     []byte
	}{{keyA, fprA, nil}, {keyP, fprP, passP}} {
		g.must("--import", tc.key+PublicKeySuffix)
		f := writeData(t, "x.aci", artifact())
		if err := SignFile(f, tc.key, tc.pass); err != nil {
			t.Fatal(err)
		}
		out := g.must("--status-fd", "1", "--verify", f+SignatureSuffix, f)
		if !strings.Contains(out, "[GNUPG:] VALIDSIG "+strings.ToUpper(tc.fpr)) || !strings.Contains(out, "[GNUPG:] GOODSIG ") {
			t.Fatalf("gpg did not report a good signature by %s:\n%s", tc.fpr, out)
		}
		if strings.Contains(out, "CRC error") || strings.Contains(out, "armor:") {
			t.Fatalf("gpg complains about the armor:\n%s", out)
		}
	}
	// GnuPG also imports our private key file (unprotected).
	out := g.must("--import", keyA+PrivateKeySuffix)
	if !strings.Contains(out, "secret keys imported: 1") {
		t.Fatalf("gpg did not import our private key:\n%s", out)
	}
}

func TestWeVerifyGnuPG(t *testing.T) {
	g := needGPG(t)
	uid := "Gnu Signer (made by GnuPG) <gnu@example.com>"
	g.must("--quick-gen-key", uid, "rsa2048", "sign", "never")
	dir := t.TempDir()
	f := filepath.Join(dir, "x.aci")
	os.WriteFile(f, artifact(), 0o644)
	g.must("--armor", "--detach-sign", "-o", f+".asc", f)
	g.must("--detach-sign", "-o", f+".sig", f)
	g.must("--armor", "--export", "-o", filepath.Join(dir, "gnu.pub.asc"), "gnu@example.com")
	g.must("--export", "-o", filepath.Join(dir, "gnu.pub.gpg"), "gnu@example.com")
	for _, tc := range []struct{ sig, pub string }{
		{f + ".asc", "gnu.pub.asc"}, // armored signature, armored key
		{f + ".sig", "gnu.pub.asc"}, // binary signature (rkt accepts it too)
		{f + ".asc", "gnu.pub.gpg"}, // binary key
	} {
		signer, err := VerifyFile(f, tc.sig, filepath.Join(dir, tc.pub))
		if err != nil || signer != uid {
			t.Errorf("VerifyFile(%s, %s) = %q, %v; want %q", filepath.Base(tc.sig), tc.pub, signer, err, uid)
		}
	}
	// The same signature fails against our own key.
	if _, err := VerifyFile(f, f+".asc", keyA); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("GnuPG signature checked against another key: %v, want ErrUnknownKey", err)
	}
	// And via the trust store, with the binary key stored armored.
	pub, _ := os.ReadFile(filepath.Join(dir, "gnu.pub.gpg"))
	ts := TrustStore{Dir: filepath.Join(dir, "trust")}
	if _, err := ts.Trust("example.com/gnu", pub); err != nil {
		t.Fatal(err)
	}
	data, _ := os.Open(f)
	defer data.Close()
	sig, _ := os.Open(f + ".asc")
	defer sig.Close()
	if signer, err := ts.Verify("example.com/gnu/app", data, sig); err != nil || signer != uid {
		t.Errorf("TrustStore.Verify(GnuPG signature) = %q, %v", signer, err)
	}
}

// TestGnuPGFixture verifies a signature GnuPG 2.2 made (committed in
// testdata/sign/gnupg; only the public key is committed), without needing
// gpg installed.
func TestGnuPGFixture(t *testing.T) {
	dir := filepath.Join("..", "testdata", "sign", "gnupg")
	const uid = "GnuPG Fixture (rktbuild test vector) <fixture@rktbuild.invalid>"
	for _, sig := range []string{"data.txt.asc", "data.txt.sig"} {
		signer, err := VerifyFile(filepath.Join(dir, "data.txt"), filepath.Join(dir, sig), filepath.Join(dir, "gnupg-rsa3072.pub.asc"))
		if err != nil || signer != uid {
			t.Errorf("%s: %q, %v", sig, signer, err)
		}
	}
	info, err := Identify(filepath.Join(dir, "gnupg-rsa3072.pub.asc"))
	if err != nil || info.Fingerprint != "11dabec2f40521690c16419e34d8e071ac0d7586" || info.Algorithm != "rsa3072" {
		t.Errorf("Identify(fixture) = %+v, %v", info, err)
	}
}

// --- the negative table, checked by every verifier ------------------------

var (
	toolOnce sync.Once
	toolPath string
	toolErr  error
)

// buildTool builds cmd/gpg-sign-tool once per test binary.
func buildTool(t *testing.T) string {
	t.Helper()
	toolOnce.Do(func() {
		toolPath = filepath.Join(fixtureDir, "gpg-sign-tool")
		c := exec.Command("go", "build", "-o", toolPath, "./cmd/gpg-sign-tool")
		c.Dir = ".."
		out, err := c.CombinedOutput()
		if err != nil {
			toolErr = fmt.Errorf("go build ./cmd/gpg-sign-tool: %v\n%s", err, out)
		}
	})
	if toolErr != nil {
		t.Fatal(toolErr)
	}
	return toolPath
}

// runTool runs the built gpg-sign-tool and returns its exit code and output.
func runTool(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	c := exec.Command(buildTool(t), args...)
	c.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

func TestVerifyFailures(t *testing.T) {
	g := optionalGPG(t) // when installed, gpg is one of the verifiers that must agree
	if g != nil {
		g.must("--import", keyA+PublicKeySuffix)
	}
	orig := artifact()
	good := writeData(t, "good.aci", orig)
	if err := SignFile(good, keyA, nil); err != nil {
		t.Fatal(err)
	}
	sig, _ := os.ReadFile(good + SignatureSuffix)
	block, _ := pgparmor.Decode(bytes.NewReader(sig))
	body, _ := io.ReadAll(block.Body)
	rearmor := func(b []byte) []byte {
		var buf bytes.Buffer
		w, _ := pgparmor.Encode(&buf, "PGP SIGNATURE", nil)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	changed := append([]byte(nil), orig...)
	changed[len(changed)/2] ^= 0x01
	garbage := make([]byte, 512)
	rand.New(rand.NewSource(1)).Read(garbage)
	badCRC := regexpReplaceCRC(sig)
	pubBlock, _ := os.ReadFile(keyA + PublicKeySuffix)
	otherSig := writeData(t, "other.aci", orig)
	if err := SignFile(otherSig, keyB, nil); err != nil {
		t.Fatal(err)
	}
	bSig, _ := os.ReadFile(otherSig + SignatureSuffix)

	for _, tc := range []struct {
		name    string
		data    []byte
		sig     []byte
		want    error
		message string // in the error and on gpg-sign-tool's stderr
	}{
		{"changed byte", changed, sig, ErrBadSignature, "does not match"},
		{"wrong key", orig, bSig, ErrUnknownKey, "not by"},
		{"truncated armor", orig, sig[:len(sig)/2], ErrNotSignature, "not an OpenPGP signature"},
		{"truncated packet", orig, rearmor(body[:len(body)-40]), ErrNotSignature, "truncated"},
		{"binary garbage", orig, garbage, ErrNotSignature, "not an OpenPGP signature"},
		{"empty file", orig, nil, ErrNotSignature, "empty file"},
		{"damaged CRC", orig, badCRC, ErrNotSignature, "damaged"},
		{"public key instead of signature", orig, pubBlock, ErrNotSignature, "PGP PUBLIC KEY BLOCK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "x.aci")
			os.WriteFile(data, tc.data, 0o644)
			os.WriteFile(data+SignatureSuffix, tc.sig, 0o644)

			// our library
			_, err := VerifyFile(data, "", keyA)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("VerifyFile: %v\nwant %v containing %q", err, tc.want, tc.message)
			}
			if err != nil && !strings.Contains(err.Error(), "x.aci") {
				t.Errorf("error does not name the file: %v", err)
			}
			// the gpg-sign-tool binary
			code, _, stderr := runTool(t, nil, "verify", data, keyA+PublicKeySuffix)
			if code != 1 || !strings.Contains(stderr, tc.message) || strings.Contains(stderr, "Good signature") {
				t.Errorf("gpg-sign-tool verify: exit %d, stderr %q; want exit 1 with %q", code, stderr, tc.message)
			}
			// GnuPG agrees
			if g != nil {
				if out, err := g.run("--verify", data+SignatureSuffix, data); err == nil {
					t.Errorf("gpg accepted it:\n%s", out)
				}
			}
			// and so does rkt's x/crypto/openpgp, which ignores the armor
			// checksum (the signature itself is intact).
			if tc.name == "damaged CRC" {
				return
			}
			if _, err := xVerify(keyA+PublicKeySuffix, data, data+SignatureSuffix); err == nil {
				t.Errorf("x/crypto/openpgp accepted it")
			} else if tc.want == ErrUnknownKey && err != xerrors.ErrUnknownIssuer {
				t.Errorf("x/crypto: %v, want ErrUnknownIssuer", err)
			}
		})
	}
	t.Run("missing signature file", func(t *testing.T) {
		data := writeData(t, "x.aci", orig)
		_, err := VerifyFile(data, "", keyA)
		if err == nil || !strings.Contains(err.Error(), "x.aci.asc") {
			t.Errorf("VerifyFile without signature: %v", err)
		}
		if code, _, stderr := runTool(t, nil, "verify", data, keyA+PublicKeySuffix); code != 1 || !strings.Contains(stderr, "x.aci.asc") {
			t.Errorf("gpg-sign-tool: exit %d, %q", code, stderr)
		}
	})
}

// regexpReplaceCRC returns sig with a different CRC24 line.
func regexpReplaceCRC(sig []byte) []byte {
	lines := strings.Split(string(sig), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "=") && len(l) == 5 {
			if l == "=AAAA" {
				lines[i] = "=BBBB"
			} else {
				lines[i] = "=AAAA"
			}
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestSignWithGnuPGKey: a secret key exported from GnuPG signs with our
// code (rkt users often have their key in GnuPG); an EdDSA key is refused
// because rkt could not verify its signatures.
func TestSignWithGnuPGKey(t *testing.T) {
	g := needGPG(t)
	dir := t.TempDir()
	g.must("--quick-gen-key", "RSA User <rsa@example.com>", "rsa2048", "sign", "never")
	g.must("--quick-gen-key", "Ed User <ed@example.com>", "ed25519", "sign", "never")
	for _, tc := range []struct {
		uid, want string
	}{
		{"rsa@example.com", ""},
		{"ed@example.com", "rkt only verifies signatures by RSA or DSA primary keys"},
	} {
		key := filepath.Join(dir, tc.uid+".key.asc")
		g.must("--armor", "--export-secret-keys", "-o", key, tc.uid)
		f := writeData(t, "x.aci", artifact())
		err := SignFile(f, key, nil)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: SignFile = %v, want error containing %q", tc.uid, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.uid, err)
		}
		if out, err := g.run("--verify", f+SignatureSuffix, f); err != nil {
			t.Errorf("gpg rejects a signature by its own exported key: %v\n%s", err, out)
		}
	}
}
