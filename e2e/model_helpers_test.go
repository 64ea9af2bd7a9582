//go:build e2e

package e2e

import (
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/sign"
)

// modelSigner is the signer `mage` builds from c (targets/options.go):
// SIGNING_KEY, its passphrase and the KEY_USE_* identity.
func modelSigner(c *config.Config) *sign.Signer {
	return sign.NewSigner(sign.SignerOptions{
		Base:           c.SigningKey,
		PassphraseFile: c.SigningPassphraseFile,
		Identity:       sign.Identity{Name: c.KeyUseName, Comment: c.KeyUseComment, Email: c.KeyUseEmail},
	})
}

// modelVerifier is `mage run`'s policy for c: TRUST_DIR, else this
// machine's SIGNING_KEY.
func modelVerifier(c *config.Config) sign.Verifier {
	return sign.Verifier{Trust: sign.TrustStore{Dir: c.TrustDir}, Keys: []string{c.SigningKey + sign.PublicKeySuffix}}
}
