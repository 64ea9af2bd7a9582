package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Verifier is the one verification policy for images: a signature is
// good when a key trusted for the image's name in the trust store (rkt's
// layout: root.d, and prefix.d directories whose prefix matches the name)
// made it, or else one of Keys (this machine's own signing key, or the
// publishing keys). A signature that a trusted key made but that does not
// match the data is bad, whatever Keys hold. run, fetch, publish and
// sign:verify all use it.
type Verifier struct {
	// Trust is the trust store; a zero Dir means none.
	Trust TrustStore
	// Keys are public key files (or BASE names for BASE.pub.asc) accepted
	// for every name; a missing file is skipped.
	Keys []string
}

// Verify checks that sig is a good detached signature of the ACI bytes by
// a key the policy accepts for imageName ("" when the file is not an
// image: only Keys apply), and returns the signer's user ID. Errors wrap
// ErrBadSignature, ErrUnknownKey or ErrNotSignature and say how to fix.
func (v Verifier) Verify(ctx context.Context, imageName string, aci io.ReadSeeker, sig io.Reader) (string, error) {
	sigData, err := io.ReadAll(io.LimitReader(sig, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading the signature: %w", err)
	}
	var storeErr error
	if v.Trust.Dir != "" && imageName != "" {
		signer, err := v.Trust.Verify(imageName, aci, bytes.NewReader(sigData))
		if err == nil || !errors.Is(err, ErrUnknownKey) {
			return signer, err
		}
		storeErr = err
	}
	var keys []string
	for _, k := range v.Keys {
		k = KeyFile(k, PublicKeySuffix)
		if _, err := os.Stat(k); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		if storeErr != nil {
			return "", storeErr
		}
		if len(v.Keys) > 0 {
			return "", fmt.Errorf("%w: no public key to verify with: %s does not exist", ErrUnknownKey, strings.Join(v.Keys, ", "))
		}
		return "", fmt.Errorf("%w: no trust store and no public key to verify with: give one (TRUST_DIR, SIGNING_KEY or -pubkey)", ErrUnknownKey)
	}
	var errs []error
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if _, err := aci.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		signer, err := verifyWithKeyFile(aci, sigData, k)
		if err == nil {
			return signer, nil
		}
		errs = append(errs, err)
	}
	err = errors.Join(errs...)
	if storeErr != nil {
		return "", fmt.Errorf("%v; and not by %v", storeErr, err)
	}
	return "", err
}

// VerifyFile is Verify for file and its signature file+".asc"; a missing
// signature is an error that says how to sign.
func (v Verifier) VerifyFile(ctx context.Context, imageName, file string) (string, error) {
	sigFile := file + SignatureSuffix
	sig, err := os.Open(sigFile)
	if err != nil {
		return "", fmt.Errorf("%s is not signed: %v (sign it with `mage sign:file %s`)", file, err, file)
	}
	defer sig.Close()
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	signer, err := v.Verify(ctx, imageName, f, sig)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return signer, nil
}
