package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"
	"github.com/rktbuild/rktbuild/sign"
)

// TrustOptions configures Trust.
type TrustOptions struct {
	Net
	// Store is where trusted keys go (rkt's trustedkeys layout).
	Store sign.TrustStore
	// Prefix is the image-name prefix the keys are trusted for; "" trusts
	// them for every name (root.d) and needs Root.
	Prefix string
	// Root must be set to trust keys for every name.
	Root bool
	// KeyFile is an armored public key file; empty means discover the keys
	// from the prefix's ac-discovery-pubkeys tag.
	KeyFile string
	// Fingerprint, when set, is the only key fingerprint accepted (hex,
	// spaces ignored): the non-interactive way to confirm a key.
	Fingerprint string
	// Confirm asks the user whether to trust a key (shown by its
	// fingerprint and user ID). Nil means no terminal: without Fingerprint
	// nothing is trusted.
	Confirm func(fingerprint, userID, source string) (bool, error)
}

// TrustedKey is one key Trust added.
type TrustedKey struct {
	Fingerprint, UserID, Source string
}

// NormalizeFingerprint lowercases a fingerprint and removes spaces and colons.
func NormalizeFingerprint(f string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", ":", "", "0x", "").Replace(f))
}

// Trust adds public keys to the trust store for opts.Prefix, from a file or
// discovered from the prefix's ac-discovery-pubkeys tag. Every key must be
// confirmed, by opts.Fingerprint or interactively; there is no silent trust
// on first use.
func Trust(ctx context.Context, opts TrustOptions) ([]TrustedKey, error) {
	if opts.Prefix == "" && !opts.Root {
		return nil, errors.New("trust: give -prefix PREFIX (e.g. example.com/images), or -root to trust a key for every image name")
	}
	if opts.Prefix != "" {
		if _, err := types.NewACIdentifier(opts.Prefix); err != nil {
			return nil, fmt.Errorf("trust: prefix %q: %v", opts.Prefix, err)
		}
	}
	want := NormalizeFingerprint(opts.Fingerprint)
	type keySource struct {
		data   []byte
		source string
	}
	var sources []keySource
	if opts.KeyFile != "" {
		data, err := os.ReadFile(opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		sources = append(sources, keySource{data, opts.KeyFile})
	} else {
		if opts.Prefix == "" {
			return nil, errors.New("trust: discovering keys needs -prefix PREFIX")
		}
		var urls discovery.PublicKeys
		var attempts []discovery.FailedAttempt
		app := discovery.App{Name: types.ACIdentifier(opts.Prefix), Labels: map[types.ACIdentifier]string{}}
		err := opts.withDiscovery(func() error {
			var err error
			urls, attempts, err = discovery.DiscoverPublicKeys(app, nil, opts.insecure(), opts.Port)
			return err
		})
		if err != nil || len(urls) == 0 {
			msg := "no ac-discovery-pubkeys tag has a prefix of it"
			if err != nil {
				msg = err.Error()
			}
			if len(attempts) > 0 {
				msg += "; failed requests: " + attemptsString(attempts)
			}
			return nil, fmt.Errorf("trust: discovering keys for %s: %s: give the key file instead, or check the prefix and -port", opts.Prefix, msg)
		}
		client := opts.Client()
		seen := map[string]bool{}
		for _, u := range urls {
			if seen[u] {
				continue
			}
			seen[u] = true
			data, err := opts.getSmall(ctx, client, u, 1<<20)
			if err != nil {
				return nil, fmt.Errorf("trust: %w", err)
			}
			sources = append(sources, keySource{data, u})
		}
	}

	var added []TrustedKey
	var offered []string
	for _, src := range sources {
		if bytes.Contains(src.data, []byte("PRIVATE KEY")) {
			return added, fmt.Errorf("trust: %s holds a private key: give the public key", src.source)
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(src.data))
		if err != nil {
			el, err = openpgp.ReadKeyRing(bytes.NewReader(src.data))
		}
		if err != nil {
			return added, fmt.Errorf("trust: %s: not an OpenPGP public key: %v", src.source, err)
		}
		for _, e := range el {
			fpr := sign.Fingerprint(e)
			uid := sign.UserID(e)
			offered = append(offered, fmt.Sprintf("%s %q from %s", fpr, uid, src.source))
			switch {
			case want != "":
				if fpr != want {
					continue
				}
			case opts.Confirm == nil:
				continue // reported below: no silent trust
			default:
				ok, err := opts.Confirm(fpr, uid, src.source)
				if err != nil {
					return added, err
				}
				if !ok {
					continue
				}
			}
			var buf bytes.Buffer
			w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
			if err != nil {
				return added, err
			}
			if err := e.Serialize(w); err != nil {
				return added, err
			}
			if err := w.Close(); err != nil {
				return added, err
			}
			buf.WriteByte('\n')
			got, err := opts.Store.Trust(opts.Prefix, buf.Bytes())
			if err != nil {
				return added, err
			}
			added = append(added, TrustedKey{Fingerprint: got, UserID: uid, Source: src.source})
		}
	}
	if len(added) == 0 {
		if want == "" && opts.Confirm == nil {
			return nil, fmt.Errorf("trust: refusing to trust without confirmation (not on a terminal); offered: %s; check the fingerprint with the key's owner and re-run with -fingerprint=FPR", strings.Join(offered, ", "))
		}
		if want != "" {
			return nil, fmt.Errorf("trust: no key with fingerprint %s was offered; offered: %s", want, strings.Join(offered, ", "))
		}
		return nil, errors.New("trust: no key trusted (declined)")
	}
	return added, nil
}
