package sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// SimpleSigningType is the critical.type of a containers "simple signing"
// signature (the format podman and skopeo verify with a policy.json
// signedBy requirement).
const SimpleSigningType = "atomic container signature"

// SimplePayload is the signed JSON of a simple-signing signature.
type SimplePayload struct {
	Critical struct {
		Type  string `json:"type"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
	} `json:"critical"`
	Optional struct {
		Creator   string `json:"creator,omitempty"`
		Timestamp int64  `json:"timestamp,omitempty"`
	} `json:"optional"`
}

// SimpleSign returns a simple-signing signature (a binary OpenPGP signed
// message holding the JSON payload) that binds the manifest digest
// (sha256:…) to dockerReference (HOST[:PORT]/REPOSITORY:TAG), made by
// signer's primary key at time at. RSA signatures are deterministic, so the
// same inputs give the same bytes.
func SimpleSign(signer *openpgp.Entity, dockerReference, manifestDigest string, at time.Time) ([]byte, error) {
	if dockerReference == "" || manifestDigest == "" {
		return nil, errors.New("simple signing needs a reference and a manifest digest")
	}
	var p SimplePayload
	p.Critical.Type = SimpleSigningType
	p.Critical.Image.DockerManifestDigest = manifestDigest
	p.Critical.Identity.DockerReference = dockerReference
	p.Optional.Creator = "rktbuild"
	p.Optional.Timestamp = at.Unix()
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	cfg := pgpConfig(at)
	cfg.SigningKeyId = signer.PrimaryKey.KeyId
	var buf bytes.Buffer
	w, err := openpgp.Sign(&buf, signer, nil, cfg)
	if err != nil {
		return nil, fmt.Errorf("simple signing: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// VerifySimple checks a simple-signing signature against keyring and
// returns its payload and the signer's user ID.
func VerifySimple(keyring openpgp.EntityList, sig []byte) (SimplePayload, string, error) {
	var p SimplePayload
	md, err := openpgp.ReadMessage(bytes.NewReader(sig), keyring, nil, &packet.Config{})
	if err != nil {
		return p, "", fmt.Errorf("simple signing: %w", err)
	}
	if !md.IsSigned || md.SignedBy == nil {
		return p, "", errors.New("simple signing: not signed by a known key")
	}
	body, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, 1<<20))
	if err != nil {
		return p, "", fmt.Errorf("simple signing: %w", err)
	}
	if md.SignatureError != nil {
		return p, "", fmt.Errorf("simple signing: bad signature: %w", md.SignatureError)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, "", fmt.Errorf("simple signing: payload: %w", err)
	}
	if p.Critical.Type != SimpleSigningType {
		return p, "", fmt.Errorf("simple signing: payload type %q, want %q", p.Critical.Type, SimpleSigningType)
	}
	return p, UserID(md.SignedBy.Entity), nil
}
