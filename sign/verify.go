package sign

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Errors a verification can wrap; test them with errors.Is.
var (
	// ErrBadSignature: the signature does not match the data (the data
	// changed after signing, or the signature is damaged).
	ErrBadSignature = errors.New("BAD signature")
	// ErrUnknownKey: the signature was made by a key that is not trusted
	// (not the given public key, or not in the trust store for the name).
	ErrUnknownKey = errors.New("signed by an untrusted key")
	// ErrNotSignature: the signature file is not an OpenPGP signature.
	ErrNotSignature = errors.New("not an OpenPGP signature")
)

// maxSignatureSize bounds what is read from a signature file; detached
// signatures are a few hundred bytes.
const maxSignatureSize = 1 << 20

// parsedSig is a detached signature decoded from armor or binary form.
type parsedSig struct {
	body   []byte // binary packets
	issuer string // "key ID 0123…" or the issuer fingerprint
}

// parseSignature decodes an armored (or, like rkt, binary) detached
// signature and checks it holds a signature packet.
func parseSignature(r io.Reader) (*parsedSig, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSignatureSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSignatureSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrNotSignature, maxSignatureSize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrNotSignature)
	}
	body := data
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		block, err := armor.Decode(bytes.NewReader(trimmed))
		if err != nil {
			return nil, fmt.Errorf("%w: damaged armor: %v", ErrNotSignature, err)
		}
		if block.Type != openpgp.SignatureType {
			return nil, fmt.Errorf("%w: armor holds a %q block, want %q", ErrNotSignature, block.Type, openpgp.SignatureType)
		}
		body, err = io.ReadAll(block.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: damaged or truncated armor: %v", ErrNotSignature, err)
		}
		if err := checkCRC(trimmed, body); err != nil {
			return nil, fmt.Errorf("%w: damaged armor: %v", ErrNotSignature, err)
		}
	}
	p, err := packet.NewReader(bytes.NewReader(body)).Next()
	if err != nil {
		return nil, fmt.Errorf("%w: no signature packet (%v); truncated or not a signature", ErrNotSignature, err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("%w: first packet is %T, not a signature", ErrNotSignature, p)
	}
	ps := &parsedSig{body: body}
	switch {
	case sig.IssuerFingerprint != nil:
		ps.issuer = fmt.Sprintf("%x", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		ps.issuer = fmt.Sprintf("key ID %016X", *sig.IssuerKeyId)
	default:
		return nil, fmt.Errorf("%w: signature names no issuer key", ErrNotSignature)
	}
	return ps, nil
}

// crcLine matches the armor checksum line before the END line.
var crcLine = regexp.MustCompile(`(?m)^=([A-Za-z0-9+/]{4})[ \t\r]*\n-----END `)

// checkCRC compares the armor's optional CRC24 line with body, as GnuPG
// does (go-crypto no longer checks it; a mismatch means a damaged file).
func checkCRC(armored, body []byte) error {
	m := crcLine.FindSubmatch(armored)
	if m == nil {
		return nil
	}
	want, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil || len(want) != 3 {
		return fmt.Errorf("malformed CRC24 line %q", m[0])
	}
	got := crc24(body)
	if got != uint32(want[0])<<16|uint32(want[1])<<8|uint32(want[2]) {
		return fmt.Errorf("CRC24 checksum mismatch (armor says %06X, data has %06X)", uint32(want[0])<<16|uint32(want[1])<<8|uint32(want[2]), got)
	}
	return nil
}

// crc24 is the OpenPGP armor checksum (RFC 4880, section 6.1).
func crc24(data []byte) uint32 {
	crc := uint32(0xB704CE)
	for _, b := range data {
		crc ^= uint32(b) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864CFB
			}
		}
	}
	return crc & 0xFFFFFF
}

// verify checks sig over signed against keyring and returns the signer.
// trusted describes the keyring for error messages.
func verify(keyring openpgp.EntityList, signed io.Reader, ps *parsedSig, trusted string) (*openpgp.Entity, error) {
	signer, err := openpgp.CheckDetachedSignature(keyring, signed, bytes.NewReader(ps.body), nil)
	switch {
	case err == nil:
		return signer, nil
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return nil, fmt.Errorf("%w: made by %s, not by %s", ErrUnknownKey, ps.issuer, trusted)
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return nil, fmt.Errorf("%w: the signing key %s has expired: extend its expiry (gpg --quick-set-expire) and re-export the public key, or sign with a current key: %v", ErrBadSignature, ps.issuer, err)
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return nil, fmt.Errorf("%w: the signature by %s has expired: sign the file again: %v", ErrBadSignature, ps.issuer, err)
	}
	var se pgperrors.SignatureError
	var st pgperrors.StructuralError
	if errors.As(err, &se) || errors.As(err, &st) || strings.Contains(err.Error(), "verification failure") {
		return nil, fmt.Errorf("%w: the data does not match the signature by %s (changed after signing, or the signature is damaged): %v", ErrBadSignature, ps.issuer, err)
	}
	return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
}

// Verify checks the detached signature sig over signed against the keys
// in keyring and returns the signing entity.
func Verify(keyring openpgp.EntityList, signed io.Reader, sig io.Reader) (*openpgp.Entity, error) {
	ps, err := parseSignature(sig)
	if err != nil {
		return nil, err
	}
	var fprs []string
	for _, e := range keyring {
		fprs = append(fprs, Fingerprint(e))
	}
	return verify(keyring, signed, ps, "any of "+strings.Join(fprs, ", "))
}

// VerifyFile checks that sigFile (empty means file+".asc") is a valid
// detached signature of file by the key in pubKeyFile (a key file, or a
// base name BASE for BASE.pub.asc), and returns the signer's user ID,
// "Name (Comment) <email>". Errors name the file that failed and wrap
// ErrBadSignature, ErrUnknownKey or ErrNotSignature.
func VerifyFile(file, sigFile, pubKeyFile string) (string, error) {
	if sigFile == "" {
		sigFile = file + SignatureSuffix
	}
	sigData, err := os.ReadFile(sigFile)
	if err != nil {
		return "", fmt.Errorf("verify %s: %w", file, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	signer, err := verifyWithKeyFile(f, sigData, KeyFile(pubKeyFile, PublicKeySuffix))
	if err != nil {
		return "", fmt.Errorf("verify %s with %s: %w", file, sigFile, err)
	}
	return signer, nil
}

// verifyWithKeyFile checks the armored detached signature sigData over
// signed with the one public key in pubKeyFile, which rkt must be able to
// read, and returns the signer's user ID.
func verifyWithKeyFile(signed io.Reader, sigData []byte, pubKeyFile string) (string, error) {
	key, err := ReadKeyFile(pubKeyFile)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	if err := RktReadable(key); err != nil {
		return "", fmt.Errorf("public key %s: %w", pubKeyFile, err)
	}
	ps, err := parseSignature(bytes.NewReader(sigData))
	if err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	signer, err := verify(openpgp.EntityList{key}, signed, ps, fmt.Sprintf("%s (%s)", pubKeyFile, Fingerprint(key)))
	if err != nil {
		return "", err
	}
	return UserID(signer), nil
}
