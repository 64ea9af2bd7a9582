// Package sign makes and checks the OpenPGP signatures rkt verifies: an
// ASCII-armored detached signature FILE.asc (with the CRC24 line) over the
// exact bytes of FILE, made by an RSA primary key, which the historical
// golang.org/x/crypto/openpgp in rkt, GnuPG and go-crypto all accept.
//
// Keys are files: BASE.key.asc (armored private key, mode 0600, optionally
// protected by a passphrase) and BASE.pub.asc (armored public key). A
// TrustStore keeps trusted public keys in rkt's trustedkeys layout.
package sign

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// DefaultBits is the RSA modulus size GenKey uses when bits is 0.
const DefaultBits = 4096

// MinBits is the smallest RSA modulus GenKey accepts.
const MinBits = 2048

// Suffixes of the key files written by GenKey.
const (
	PrivateKeySuffix = ".key.asc"
	PublicKeySuffix  = ".pub.asc"
	SignatureSuffix  = ".asc"
)

// Identity is the user ID of a signing key: "Name (Comment) <Email>".
type Identity struct {
	Name    string
	Comment string
	Email   string
}

// String renders the identity the way OpenPGP user IDs and GnuPG show it.
func (id Identity) String() string {
	s := id.Name
	if id.Comment != "" {
		s += " (" + id.Comment + ")"
	}
	if id.Email != "" {
		s += " <" + id.Email + ">"
	}
	return strings.TrimSpace(s)
}

// Validate checks that every field is set and holds no character OpenPGP
// user IDs reserve. Errors name the KEY_USE_* setting to fix.
func (id Identity) Validate() error {
	fields := []struct{ key, val string }{
		{"KEY_USE_NAME", id.Name}, {"KEY_USE_COMMENT", id.Comment}, {"KEY_USE_EMAIL", id.Email},
	}
	var missing []string
	for _, f := range fields {
		if strings.TrimSpace(f.val) == "" {
			missing = append(missing, f.key)
		}
	}
	if len(missing) > 0 {
		it := "it"
		if len(missing) > 1 {
			it = "them"
		}
		return fmt.Errorf("missing %s: set %s in the environment or in .config (the signing key's identity)", strings.Join(missing, ", "), it)
	}
	for _, f := range fields {
		if strings.ContainsAny(f.val, "()<>\x00\n\r") {
			return fmt.Errorf("%s=%q: must not contain any of ( ) < > or a newline", f.key, f.val)
		}
	}
	if !strings.Contains(id.Email, "@") {
		return fmt.Errorf("KEY_USE_EMAIL=%q: not an e-mail address (expected user@host)", id.Email)
	}
	return nil
}

// IdentityFromEnv reads KEY_USE_NAME, KEY_USE_COMMENT and KEY_USE_EMAIL from
// lookup (os.LookupEnv when nil) and validates them.
func IdentityFromEnv(lookup func(string) (string, bool)) (Identity, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(k string) string { v, _ := lookup(k); return v }
	id := Identity{Name: get("KEY_USE_NAME"), Comment: get("KEY_USE_COMMENT"), Email: get("KEY_USE_EMAIL")}
	return id, id.Validate()
}

// pgpConfig is the go-crypto configuration for everything this package
// makes: SHA-256, no salt notation (old verifiers see a classic v4
// signature, and a signature is a pure function of key, time and data).
func pgpConfig(now time.Time) *packet.Config {
	no := false
	return &packet.Config{
		DefaultHash:                           crypto.SHA256,
		DefaultCipher:                         packet.CipherAES256,
		NonDeterministicSignaturesViaNotation: &no,
		Time:                                  func() time.Time { return now },
	}
}

// GenKey generates an RSA key (bits, DefaultBits when 0) whose primary key
// certifies and signs, with the user ID id, and writes base+".key.asc"
// (mode 0600, encrypted with passphrase when it is not empty) and
// base+".pub.asc", each atomically. It refuses to overwrite an existing
// private key. It returns the key's fingerprint (40 lowercase hex digits).
func GenKey(base string, id Identity, bits int, passphrase []byte) (string, error) {
	if base == "" {
		return "", errors.New("genkey: empty key base name: give BASE to write BASE.key.asc and BASE.pub.asc")
	}
	if err := id.Validate(); err != nil {
		return "", err
	}
	if bits == 0 {
		bits = DefaultBits
	}
	if bits < MinBits {
		return "", fmt.Errorf("genkey: %d-bit RSA is too weak: use at least %d bits", bits, MinBits)
	}
	priv := base + PrivateKeySuffix
	if _, err := os.Lstat(priv); err == nil {
		return "", fmt.Errorf("genkey: %s already exists: remove it or choose another BASE (refusing to replace a private key)", priv)
	}
	e, err := newEntity(id, bits)
	if err != nil {
		return "", fmt.Errorf("genkey: %w", err)
	}
	var pub bytes.Buffer
	if err := writeArmored(&pub, openpgp.PublicKeyType, e.Serialize); err != nil {
		return "", fmt.Errorf("genkey: exporting public key: %w", err)
	}
	if len(passphrase) > 0 {
		if err := e.PrivateKey.Encrypt(passphrase); err != nil {
			return "", fmt.Errorf("genkey: encrypting private key: %w", err)
		}
	}
	var sec bytes.Buffer
	err = writeArmored(&sec, openpgp.PrivateKeyType, func(w io.Writer) error {
		return e.SerializePrivateWithoutSigning(w, nil)
	})
	if err != nil {
		return "", fmt.Errorf("genkey: exporting private key: %w", err)
	}
	if err := fsutil.WriteFileBytes(priv, sec.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("genkey: writing %s: %w", priv, err)
	}
	if err := fsutil.WriteFileBytes(base+PublicKeySuffix, pub.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("genkey: writing %s: %w", base+PublicKeySuffix, err)
	}
	return Fingerprint(e), nil
}

// newEntity makes a key with only an RSA primary key (flags certify+sign)
// and one self-signed user ID: no subkeys, so there is no doubt about
// which key signs, and nothing an old verifier could trip on.
func newEntity(id Identity, bits int) (*openpgp.Entity, error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	cfg := pgpConfig(now)
	pk := packet.NewRSAPrivateKey(now, rsaKey)
	e := &openpgp.Entity{
		PrimaryKey: &pk.PublicKey,
		PrivateKey: pk,
		Identities: map[string]*openpgp.Identity{},
	}
	if err := e.AddUserId(id.Name, id.Comment, id.Email, cfg); err != nil {
		return nil, fmt.Errorf("user ID %q: %w", id, err)
	}
	return e, nil
}

func writeArmored(w io.Writer, blockType string, body func(io.Writer) error) error {
	aw, err := armor.Encode(w, blockType, nil)
	if err != nil {
		return err
	}
	if err := body(aw); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// Fingerprint returns e's primary key fingerprint as lowercase hex, the
// file name rkt's trust store uses.
func Fingerprint(e *openpgp.Entity) string {
	return hex.EncodeToString(e.PrimaryKey.Fingerprint)
}

// UserID returns e's primary user ID ("Name (Comment) <email>"), or the
// long key ID when it has none.
func UserID(e *openpgp.Entity) string {
	if id := e.PrimaryIdentity(); id != nil {
		return id.Name
	}
	for name := range e.Identities {
		return name
	}
	return fmt.Sprintf("key %016X", e.PrimaryKey.KeyId)
}

// ReadKeyFile reads one OpenPGP key (public or private, armored or binary)
// from file. Errors name the file.
func ReadKeyFile(file string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	el, err := readKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("%s: holds %d keys, want exactly one", file, len(el))
	}
	return el[0], nil
}

func readKeys(data []byte) (openpgp.EntityList, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty file: not an OpenPGP key")
	}
	var el openpgp.EntityList
	var err error
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(trimmed))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable OpenPGP key (armored or binary): %v", err)
	}
	if len(el) == 0 {
		return nil, errors.New("no OpenPGP key in file")
	}
	return el, nil
}

// KeyInfo describes a key file for `gpg-sign-tool identify`.
type KeyInfo struct {
	Fingerprint string // 40 lowercase hex digits
	KeyID       string // 16 uppercase hex digits
	UserID      string
	Algorithm   string // e.g. "rsa4096"
	Created     time.Time
	Private     bool
	Encrypted   bool // private key protected by a passphrase
}

// Identify reads a key file and describes it.
func Identify(file string) (KeyInfo, error) {
	e, err := ReadKeyFile(file)
	if err != nil {
		return KeyInfo{}, err
	}
	info := KeyInfo{
		Fingerprint: Fingerprint(e),
		KeyID:       fmt.Sprintf("%016X", e.PrimaryKey.KeyId),
		UserID:      UserID(e),
		Algorithm:   algoName(e.PrimaryKey),
		Created:     e.PrimaryKey.CreationTime,
		Private:     e.PrivateKey != nil,
	}
	if e.PrivateKey != nil {
		info.Encrypted = e.PrivateKey.Encrypted
	}
	return info, nil
}

func algoName(pk *packet.PublicKey) string {
	bits, _ := pk.BitLength()
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		return fmt.Sprintf("rsa%d", bits)
	case packet.PubKeyAlgoDSA:
		return fmt.Sprintf("dsa%d", bits)
	case packet.PubKeyAlgoECDSA:
		return "ecdsa"
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoEd25519, packet.PubKeyAlgoEd448:
		return "eddsa"
	}
	return fmt.Sprintf("algorithm %d", pk.PubKeyAlgo)
}

// ErrRktUnreadable is returned (wrapped) for a key rkt cannot use.
var ErrRktUnreadable = errors.New("rkt cannot read this key")

// RktReadable refuses keys rkt 1.30.0 cannot use: its OpenPGP code
// (golang.org/x/crypto/openpgp of 2014) reads RSA and DSA primary keys
// only; an ECDSA or EdDSA key fails to parse there, and one such file in a
// trust-store prefix breaks verification for the whole prefix. Signing,
// trusting and verifying all apply this one rule.
func RktReadable(e *openpgp.Entity) error {
	switch e.PrimaryKey.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoDSA:
		return nil
	}
	return fmt.Errorf("primary key %s is %s: %w (rkt only verifies signatures by RSA or DSA primary keys; make an RSA key, e.g. with mage sign:genKey)", Fingerprint(e), algoName(e.PrimaryKey), ErrRktUnreadable)
}
