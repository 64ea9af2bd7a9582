package kernel

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// PinnedKey is a signing key rktbuild trusts for kernel sources. The key
// material ships in kernel/keys/<File>; it is never fetched at build time,
// and a key file whose primary key does not have Fingerprint is rejected.
type PinnedKey struct {
	Name        string
	Fingerprint string // 40 upper-case hex digits, v4 primary key
	File        string // file name in the keys directory
}

// The keys kernel.org releases are checked against (see
// https://www.kernel.org/signature.html).
var (
	// Autosigner signs sha256sums.asc in each release directory.
	Autosigner = PinnedKey{"Kernel.org checksum autosigner <autosigner@kernel.org>", "B8868C80BA62A1FFFAF5FDA9632D3A06589DA6B1", "autosigner.asc"}
	// KroahHartman signs stable releases (X.Y.Z).
	KroahHartman = PinnedKey{"Greg Kroah-Hartman <gregkh@kernel.org>", "647F28654894E3BD457199BE38DBBDC86092693E", "gregkh.asc"}
	// Torvalds signs mainline releases (X.Y) and release candidates.
	Torvalds = PinnedKey{"Linus Torvalds <torvalds@kernel.org>", "ABAF11C65A2970B130ABE3C479BE3E4300411886", "torvalds.asc"}
)

// Keys holds the pinned keys' public key packets. A key file may hold a
// full transferable public key or only the primary key packet: trust comes
// from the pinned fingerprint, not from self-signatures.
type Keys struct {
	byName map[string]*packet.PublicKey // PinnedKey.Fingerprint -> key
}

// LoadKeys reads each pinned key from dir and checks its fingerprint.
func LoadKeys(dir string, pins ...PinnedKey) (*Keys, error) {
	k := &Keys{byName: map[string]*packet.PublicKey{}}
	for _, pin := range pins {
		path := filepath.Join(dir, pin.File)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("pinned key %s (%s): %w: add the armored public key to %s", pin.Name, pin.Fingerprint, err, dir)
		}
		pk, err := primaryKey(data)
		if err != nil {
			return nil, fmt.Errorf("pinned key file %s: %w", path, err)
		}
		if got := strings.ToUpper(hex.EncodeToString(pk.Fingerprint)); got != pin.Fingerprint {
			return nil, fmt.Errorf("pinned key file %s holds key %s, expected %s (%s): replace it with the right key", path, got, pin.Fingerprint, pin.Name)
		}
		k.byName[pin.Fingerprint] = pk
	}
	return k, nil
}

// primaryKey returns the first primary public key packet in armored or
// binary key data.
func primaryKey(data []byte) (*packet.PublicKey, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		b, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("reading armor: %w", err)
		}
		if b.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("armor type %q, expected %q", b.Type, openpgp.PublicKeyType)
		}
		r = b.Body
	}
	pr := packet.NewReader(r)
	for {
		p, err := pr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no public key packet")
		}
		if err != nil {
			return nil, fmt.Errorf("reading key packets: %w", err)
		}
		if pk, ok := p.(*packet.PublicKey); ok && !pk.IsSubkey {
			return pk, nil
		}
	}
}

// VerifyError says which check failed and over what.
type VerifyError struct {
	What   string // e.g. "linux-6.1.112.tar.sign"
	Reason string
}

func (e *VerifyError) Error() string { return "verification failed: " + e.What + ": " + e.Reason }

// verify checks one signature packet over signed against the pinned key.
func (k *Keys) verify(pin PinnedKey, what string, signed io.Reader, sigData io.Reader) error {
	pk := k.byName[pin.Fingerprint]
	if pk == nil {
		return fmt.Errorf("key %s not loaded", pin.Name)
	}
	p, err := packet.Read(sigData)
	if err != nil {
		return &VerifyError{what, "unreadable signature: " + err.Error()}
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return &VerifyError{what, fmt.Sprintf("expected a signature packet, found %T", p)}
	}
	issuer := sig.IssuerKeyId
	if sig.IssuerFingerprint != nil && !bytes.Equal(sig.IssuerFingerprint, pk.Fingerprint) ||
		issuer != nil && *issuer != pk.KeyId {
		by := ""
		if issuer != nil {
			by = fmt.Sprintf("%016X", *issuer)
		}
		return &VerifyError{what, fmt.Sprintf("signed by key %s, not by the pinned key %s (%s)", by, pin.Fingerprint, pin.Name)}
	}
	if sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText {
		return &VerifyError{what, fmt.Sprintf("unexpected signature type %d", sig.SigType)}
	}
	h, err := sig.PrepareVerify()
	if err != nil {
		return &VerifyError{what, err.Error()}
	}
	var w io.Writer = h
	if sig.SigType == packet.SigTypeText {
		w = openpgp.NewCanonicalTextHash(h)
	}
	if _, err := io.Copy(w, signed); err != nil {
		return fmt.Errorf("reading data signed by %s: %w", what, err)
	}
	if err := pk.VerifySignature(h, sig); err != nil {
		return &VerifyError{what, "bad signature by " + pin.Name + ": " + err.Error()}
	}
	return nil
}

// VerifyDetached checks an armored or binary detached signature over signed.
func (k *Keys) VerifyDetached(pin PinnedKey, what string, signed io.Reader, sig []byte) error {
	var r io.Reader = bytes.NewReader(sig)
	if bytes.Contains(sig, []byte("-----BEGIN PGP SIGNATURE")) {
		b, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return &VerifyError{what, "unreadable armor: " + err.Error()}
		}
		r = b.Body
	}
	return k.verify(pin, what, signed, r)
}

// VerifySums checks a clear-signed sha256sums.asc against the pinned key
// and returns its entries: file name -> hex sha256.
func (k *Keys) VerifySums(pin PinnedKey, what string, data []byte) (map[string]string, error) {
	b, _ := clearsign.Decode(data)
	if b == nil {
		return nil, &VerifyError{what, "not a clear-signed message (missing signature)"}
	}
	if err := k.verify(pin, what, bytes.NewReader(b.Bytes), b.ArmoredSignature.Body); err != nil {
		return nil, err
	}
	return ParseSums(b.Plaintext)
}

// ParseSums parses "HEX  NAME" lines as sha256sum writes them.
func ParseSums(text []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[0]) != 64 {
			continue
		}
		if _, err := hex.DecodeString(f[0]); err != nil {
			continue
		}
		sums[strings.TrimPrefix(f[1], "*")] = strings.ToLower(f[0])
	}
	return sums, sc.Err()
}
