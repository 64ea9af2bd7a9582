package targets

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/registry/fetch"
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
	c, err := load()
	if err != nil {
		return err
	}
	id, err := sign.IdentityFromConfig(c)
	if err != nil {
		return err
	}
	pass, err := sign.Passphrase(c)
	if err != nil {
		return err
	}
	if step.IsDryRun() {
		step.Summaryf("sign:genKey: would generate %s%s for %s", base, sign.PrivateKeySuffix, id)
		return nil
	}
	step.Summaryf("generating %d-bit RSA key for %s (this takes a few seconds)", sign.DefaultBits, id)
	fpr, err := sign.GenKey(base, id, sign.DefaultBits, pass)
	if err != nil {
		return err
	}
	// Key generation cannot be interrupted midway; a Ctrl-C or SIGTERM
	// during it means the user does not want the key: remove what this
	// call wrote (GenKey never replaces an existing key) and fail.
	if ctx.Err() != nil {
		os.Remove(base + sign.PrivateKeySuffix)
		os.Remove(base + sign.PublicKeySuffix)
		return fmt.Errorf("sign:genKey: interrupted; %s%s was not kept: %w", base, sign.PrivateKeySuffix, context.Cause(ctx))
	}
	step.Summaryf("wrote %s%s and %s%s, fingerprint %s", base, sign.PrivateKeySuffix, base, sign.PublicKeySuffix, fpr)
	return nil
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
	c, err := load()
	if err != nil {
		return err
	}
	if step.IsDryRun() {
		step.Summaryf("sign:file: would write %s%s", file, sign.SignatureSuffix)
		return nil
	}
	if key == nil || *key == "" {
		if err := sign.SignArtifact(c, file); err != nil {
			return err
		}
	} else {
		pass, err := sign.Passphrase(c)
		if err != nil {
			return err
		}
		if err := sign.SignFile(file, *key, pass); err != nil {
			return err
		}
	}
	step.Summaryf("wrote %s%s", file, sign.SignatureSuffix)
	return nil
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
// wrong key or a damaged signature.
func (Sign) Verify(ctx context.Context, file string, pubkey, name *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	var signer string
	switch {
	case pubkey != nil && *pubkey != "" && name != nil && *name != "":
		return fmt.Errorf("sign:verify: give -pubkey or -name, not both")
	case name != nil && *name != "":
		data, err := os.Open(file)
		if err != nil {
			return err
		}
		defer data.Close()
		sig, err := os.Open(file + sign.SignatureSuffix)
		if err != nil {
			return err
		}
		defer sig.Close()
		signer, err = sign.TrustStore{Dir: c.TrustDir}.Verify(*name, data, sig)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	default:
		pub := c.SigningKey + sign.PublicKeySuffix
		if pubkey != nil && *pubkey != "" {
			pub = *pubkey
		} else if err := c.Require("SIGNING_KEY"); err != nil {
			return err
		}
		signer, err = sign.VerifyFile(file, "", pub)
		if err != nil {
			return err
		}
	}
	step.Summaryf("Good signature from %q", signer)
	return nil
}

// Trust adds the public key PUBKEY to the trust store for names under PREFIX.
//
// Usage: mage sign:trust PREFIX PUBKEY [-fingerprint=FPR]
//
// The key lands in TRUST_DIR/prefix.d/PREFIX/<fingerprint>, the layout of
// rkt's /etc/rkt/trustedkeys (PREFIX "root" stores it in root.d, trusted for
// every name). As with `mage trust`, nothing is trusted silently: the key's
// fingerprint must be confirmed on a terminal or given with -fingerprint.
// sign:verify -name and image fetches then accept signatures by that key
// for those names.
func (Sign) Trust(ctx context.Context, prefix, pubkey string, fingerprint *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	opts := fetch.TrustOptions{Store: sign.TrustStore{Dir: c.TrustDir}, KeyFile: sign.KeyFile(pubkey, sign.PublicKeySuffix)}
	if prefix == "root" {
		opts.Root = true
	} else {
		opts.Prefix = prefix
	}
	if fingerprint != nil {
		opts.Fingerprint = *fingerprint
	}
	return trustKeys(ctx, c, opts, pubkey)
}

func init() {
	registerBench("sign")
}

// Sign measures signing 256 MiB with our signer against GnuPG.
//
// It measures signing a 256 MiB artifact with our signer against GnuPG
// (`gpg --armor --detach-sign`) using the same 4096-bit RSA key, median of
// BENCH_RUNS (default 3) runs each, and checks that each side verifies the
// other's signature. Scratch files live in S1B_BUILD_DIR/bench/sign.
func (Bench) Sign(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	if err := step.Need(ctx, step.Tool{Command: "gpg", Package: "gnupg"}); err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Join(c.BuildDir, "bench", "sign"))
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "artifact.bin")
	const size = 256 << 20
	if fi, err := os.Stat(data); err != nil || fi.Size() != size {
		step.Summaryf("bench:sign: writing a %d MiB test artifact", size>>20)
		if err := step.WriteFile(data, 0o644, func(w io.Writer) error {
			buf := make([]byte, 1<<20)
			for i := range buf {
				buf[i] = byte(i*131 + i>>9)
			}
			for n := 0; n < size; n += len(buf) {
				buf[0] = byte(n >> 20)
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	base := filepath.Join(dir, "benchkey")
	if _, err := os.Stat(base + sign.PrivateKeySuffix); err != nil {
		step.Summaryf("bench:sign: generating a 4096-bit RSA test key")
		if _, err := sign.GenKey(base, sign.Identity{Name: "rktbuild bench", Comment: "throwaway", Email: "bench@rktbuild.invalid"}, sign.DefaultBits, nil); err != nil {
			return err
		}
	}
	info, err := sign.Identify(base + sign.PrivateKeySuffix)
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "gpgbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	gpg := step.Cmd{Env: []string{"GNUPGHOME=" + home}}
	defer func() { _ = gpg.Run(context.Background(), "gpgconf", "--kill", "all") }()
	if err := gpg.Run(ctx, "gpg", "--batch", "--import", base+sign.PrivateKeySuffix); err != nil {
		return err
	}
	n := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		n = v
	}
	median := func(run func() error) (time.Duration, error) {
		var ds []time.Duration
		for i := 0; i < n; i++ {
			start := time.Now()
			if err := run(); err != nil {
				return 0, err
			}
			ds = append(ds, time.Since(start))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2], nil
	}
	ours, err := median(func() error { return sign.SignFile(data, base, nil) })
	if err != nil {
		return err
	}
	gpgSig := filepath.Join(dir, "artifact.gpg.asc")
	peer, err := median(func() error {
		return gpg.Run(ctx, "gpg", "--batch", "--yes", "--armor", "--detach-sign", "-u", info.Fingerprint, "-o", gpgSig, data)
	})
	if err != nil {
		return err
	}
	// Each side must accept the other's signature.
	if err := gpg.Run(ctx, "gpg", "--batch", "--verify", data+sign.SignatureSuffix, data); err != nil {
		return fmt.Errorf("bench:sign: GnuPG rejects our signature: %w", err)
	}
	if _, err := sign.VerifyFile(data, gpgSig, base); err != nil {
		return fmt.Errorf("bench:sign: we reject GnuPG's signature: %w", err)
	}
	step.Summaryf("signing %d MiB with rsa4096: ours %.3fs (%.0f MB/s), gpg %.3fs", size>>20, ours.Seconds(), size/1e6/ours.Seconds(), peer.Seconds())
	printBench("sign", ours, peer, "gpg --detach-sign")
	return nil
}
