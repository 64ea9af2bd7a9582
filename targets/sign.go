package targets

import (
	"context"
	"fmt"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Sign groups the OpenPGP signing targets: key generation, detached
// signatures rkt verifies (FILE.asc), verification and the rkt trust store.
type Sign mg.Namespace

// GenKey generates an RSA 4096-bit signing key pair BASE.{key,pub}.asc.
//
// It generates an RSA 4096-bit signing key: BASE.key.asc (mode 0600) and
// BASE.pub.asc.
//
// Usage: mage sign:genKey BASE
//
// The identity comes from KEY_USE_NAME, KEY_USE_COMMENT and KEY_USE_EMAIL
// (each required); the private key is protected with the passphrase in
// SIGNING_PASSPHRASE_FILE or $KEY_PASSPHRASE when one is set. An existing
// BASE.key.asc is never replaced. The configured key SIGNING_KEY is
// generated on first use by sign:file and by every target that signs, so
// this is only needed for extra keys.
func (Sign) GenKey(ctx context.Context, base string) error {
	return run(ctx, "sign:genKey", func(ctx context.Context, c *config.Config) error {
		o := signerOptions(c)
		o.Base, o.Bits = base, sign.DefaultBits
		if planning(ctx) {
			step.Summaryf(ctx, "sign:genKey: would generate %s%s for %s", base, sign.PrivateKeySuffix, o.Identity)
			return nil
		}
		fpr, err := sign.NewSigner(o).Generate(ctx)
		if err != nil {
			return fmt.Errorf("sign:genKey: %w", err)
		}
		step.Summaryf(ctx, "wrote %s%s and %s%s, fingerprint %s", base, sign.PrivateKeySuffix, base, sign.PublicKeySuffix, fpr)
		return nil
	})
}

// File writes FILE.asc, a detached signature of FILE that rkt verifies.
//
// It writes FILE.asc, an armored detached signature of FILE that rkt
// verifies.
//
// Usage: mage sign:file FILE [-key=KEY]
//
// KEY is a private key file or a base name (BASE for BASE.key.asc); by
// default the configured SIGNING_KEY, generated on first use with the
// KEY_USE_NAME / KEY_USE_COMMENT / KEY_USE_EMAIL identity. The passphrase
// comes from SIGNING_PASSPHRASE_FILE or $KEY_PASSPHRASE, never from the
// command line. The signature is written atomically.
func (Sign) File(ctx context.Context, file string, key *string) error {
	return run(ctx, "sign:file", func(ctx context.Context, c *config.Config) error {
		if planning(ctx) {
			step.Summaryf(ctx, "sign:file: would write %s%s", file, sign.SignatureSuffix)
			return nil
		}
		if err := signerFor(c).SignFileWith(ctx, file, deref(key)); err != nil {
			return err
		}
		step.Summaryf(ctx, "wrote %s%s", file, sign.SignatureSuffix)
		return nil
	})
}

// Verify checks FILE.asc, the detached signature of FILE.
//
// Usage: mage sign:verify FILE [-pubkey=PUB] [-name=IMAGE]
//
// With -pubkey, PUB (a public key file or a base name for BASE.pub.asc) must
// have made the signature. With -name, a key trusted for the image name
// IMAGE in the trust store TRUST_DIR must have made it, as rkt checks
// (see sign:trust). With neither, the configured SIGNING_KEY's public key
// is used. Prints `Good signature from "…"`; fails on a changed file, a
// wrong key, a key rkt cannot read or a damaged signature.
func (Sign) Verify(ctx context.Context, file string, pubkey, name *string) error {
	return run(ctx, "sign:verify", func(ctx context.Context, c *config.Config) error {
		v, image, err := verifierForFlags(c, deref(pubkey), deref(name))
		if err != nil {
			return err
		}
		signer, err := v.VerifyFile(ctx, image, file)
		if err != nil {
			return err
		}
		step.Summaryf(ctx, "Good signature from %q", signer)
		return nil
	})
}

// Trust adds PUBKEY to the trust store for names under PREFIX.
//
// Usage: mage sign:trust PREFIX PUBKEY [-fingerprint=FPR]
//
// An alias of `mage trust PUBKEY -prefix=PREFIX`: the key lands in
// TRUST_DIR/prefix.d/PREFIX/<fingerprint>, the layout of rkt's
// /etc/rkt/trustedkeys (PREFIX "root" stores it in root.d, trusted for
// every name). Nothing is trusted silently: the key's fingerprint must be
// confirmed on a terminal or given with -fingerprint. sign:verify -name
// and image fetches then accept signatures by that key for those names.
func (Sign) Trust(ctx context.Context, prefix, pubkey string, fingerprint *string) error {
	root := prefix == "root"
	if root {
		prefix = ""
	}
	return Trust(ctx, pubkey, &prefix, fingerprint, &root, nil, nil, nil)
}
