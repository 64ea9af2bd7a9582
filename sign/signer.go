package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/internal/say"
)

// PassphraseEnv is the environment variable read for the signing key's
// passphrase when no passphrase file is configured.
const PassphraseEnv = "KEY_PASSPHRASE"

// SignerOptions are the signing settings, mapped from the configuration
// by the command layer (SIGNING_KEY, SIGNING_PASSPHRASE_FILE, KEY_USE_*).
type SignerOptions struct {
	// Base is the key's base path: BASE.key.asc and BASE.pub.asc.
	Base string
	// PassphraseFile holds the private key's passphrase; "" means
	// $KEY_PASSPHRASE, or none (an unprotected key).
	PassphraseFile string
	// Identity is the user ID a generated key gets.
	Identity Identity
	// Bits is the RSA size of a generated key; 0 means DefaultBits.
	Bits int
	// LookupEnv reads $KEY_PASSPHRASE; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Signer is the one way rktbuild signs: built once from SignerOptions, it
// makes sure the key exists (generating it on first use), signs files with
// detached armored signatures rkt verifies, exports the public key and
// names the files a signature depends on.
type Signer struct {
	opts SignerOptions
}

// NewSigner returns the signer for opts. Nothing is read or generated
// until the signer is used.
func NewSigner(opts SignerOptions) *Signer { return &Signer{opts: opts} }

// Base is the key's base path.
func (s *Signer) Base() string { return s.opts.Base }

// PublicKeyFile is BASE.pub.asc, the key clients trust.
func (s *Signer) PublicKeyFile() string { return s.opts.Base + PublicKeySuffix }

// PrivateKeyFile is BASE.key.asc.
func (s *Signer) PrivateKeyFile() string { return s.opts.Base + PrivateKeySuffix }

// Inputs are the files whose content a signature depends on: the key pair.
// Steps that sign list them as inputs and hash them by content, so that
// replacing the key re-signs, whatever its path.
func (s *Signer) Inputs() []string { return KeyFiles(s.opts.Base) }

// KeyFiles are the files of the key pair at base (BASE.key.asc and
// BASE.pub.asc).
func KeyFiles(base string) []string {
	return []string{base + PrivateKeySuffix, base + PublicKeySuffix}
}

// Passphrase returns the passphrase: the contents of PassphraseFile (one
// trailing newline removed) when set, else $KEY_PASSPHRASE, else nil. It
// never comes from argv.
func (s *Signer) Passphrase() ([]byte, error) {
	lookup := s.opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return readPassphrase(s.opts.PassphraseFile, lookup)
}

// PassphraseFromEnv is the passphrase for programs without the
// configuration (gpg-sign-tool): SIGNING_PASSPHRASE_FILE and KEY_PASSPHRASE
// are read from lookup (os.LookupEnv when nil).
func PassphraseFromEnv(lookup func(string) (string, bool)) ([]byte, error) {
	return signerFromEnv("", lookup).Passphrase()
}

// SignerFromEnv is the signer of the key at base for programs without
// the configuration (gpg-sign-tool): the passphrase from
// SIGNING_PASSPHRASE_FILE or KEY_PASSPHRASE as lookup (os.LookupEnv when
// nil) reports them.
func SignerFromEnv(base string, lookup func(string) (string, bool)) *Signer {
	return signerFromEnv(base, lookup)
}

func signerFromEnv(base string, lookup func(string) (string, bool)) *Signer {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	file, _ := lookup("SIGNING_PASSPHRASE_FILE")
	return NewSigner(SignerOptions{Base: base, PassphraseFile: file, LookupEnv: lookup})
}

func readPassphrase(file string, lookup func(string) (string, bool)) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("SIGNING_PASSPHRASE_FILE: %w", err)
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if s == "" {
			return nil, fmt.Errorf("SIGNING_PASSPHRASE_FILE=%s is empty: put the passphrase in it, or leave the setting empty for an unprotected key", file)
		}
		return []byte(s), nil
	}
	if v, ok := lookup(PassphraseEnv); ok && v != "" {
		return []byte(v), nil
	}
	return nil, nil
}

var ensureMu sync.Mutex

// ensureBits is the size Ensure generates by default (tests lower it).
var ensureBits = DefaultBits

// Ensure makes sure the key exists: when BASE.key.asc is missing it
// generates an RSA key with the identity and passphrase, prints its
// fingerprint and returns generated=true. A missing BASE.pub.asc is
// re-exported from the private key. An existing key rkt cannot read (a
// primary key that is not RSA or DSA) is refused with the reason. It is
// safe to call from several goroutines and processes at once (a lock file
// .NAME.lock beside the key serialises them).
func (s *Signer) Ensure(ctx context.Context) (fingerprint string, generated bool, err error) {
	base := s.opts.Base
	if base == "" {
		return "", false, errors.New("missing SIGNING_KEY: set it to the signing key's base path (BASE.key.asc) in the environment or in .config")
	}
	ensureMu.Lock()
	defer ensureMu.Unlock()
	unlock, err := lockFile(base)
	if err != nil {
		return "", false, err
	}
	defer unlock()

	priv := base + PrivateKeySuffix
	if _, err := os.Stat(priv); err == nil {
		// Both halves present: answer from the public key. Parsing the
		// private key costs an RSA precomputation (~10 ms for 4096 bits),
		// which every no-op build would pay; signing parses it anyway.
		if pub, err := ReadKeyFile(base + PublicKeySuffix); err == nil {
			if err := RktReadable(pub); err != nil {
				return "", false, fmt.Errorf("SIGNING_KEY: %s: %w", base+PublicKeySuffix, err)
			}
			return Fingerprint(pub), false, nil
		}
		e, err := ReadKeyFile(priv)
		if err != nil {
			return "", false, fmt.Errorf("SIGNING_KEY: %w", err)
		}
		if e.PrivateKey == nil {
			return "", false, fmt.Errorf("SIGNING_KEY: %s holds a public key, not a private key", priv)
		}
		if err := RktReadable(e); err != nil {
			return "", false, fmt.Errorf("SIGNING_KEY: %s: %w", priv, err)
		}
		if _, err := os.Stat(base + PublicKeySuffix); errors.Is(err, os.ErrNotExist) {
			if err := exportPublic(e, base+PublicKeySuffix); err != nil {
				return "", false, err
			}
			say.Linef(ctx, "signing key %s: re-exported missing %s", base, base+PublicKeySuffix)
		}
		return Fingerprint(e), false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("SIGNING_KEY: %w", err)
	}
	if err := s.opts.Identity.Validate(); err != nil {
		return "", false, err
	}
	pass, err := s.Passphrase()
	if err != nil {
		return "", false, err
	}
	bits := s.opts.Bits
	if bits == 0 {
		bits = ensureBits
	}
	say.Linef(ctx, "signing key %s%s does not exist: generating %d-bit RSA key for %s", base, PrivateKeySuffix, bits, s.opts.Identity)
	fpr, err := GenKey(base, s.opts.Identity, bits, pass)
	if err != nil {
		return "", false, err
	}
	// Generation cannot be interrupted midway; a cancellation during it
	// means the key is not wanted: remove what this call wrote.
	if ctx.Err() != nil {
		os.Remove(base + PrivateKeySuffix)
		os.Remove(base + PublicKeySuffix)
		return "", false, fmt.Errorf("generating %s%s: interrupted; the key was not kept: %w", base, PrivateKeySuffix, context.Cause(ctx))
	}
	say.Linef(ctx, "generated signing key %s: fingerprint %s (public key %s)", base, strings.ToUpper(fpr), base+PublicKeySuffix)
	return fpr, true, nil
}

// SignFileWith signs file with key — an existing private key file or a
// base name BASE for BASE.key.asc, unlocked with the signer's passphrase —
// or, when key is "", with the signer's own key (see SignFile).
func (s *Signer) SignFileWith(ctx context.Context, file, key string) error {
	if key == "" {
		return s.SignFile(ctx, file)
	}
	pass, err := s.Passphrase()
	if err != nil {
		return err
	}
	return SignFile(file, key, pass)
}

// Generate makes a new key pair at the signer's base with its identity
// and passphrase, and returns the fingerprint. An existing BASE.key.asc is
// never replaced: that is an error.
func (s *Signer) Generate(ctx context.Context) (string, error) {
	if _, err := os.Stat(s.PrivateKeyFile()); err == nil {
		return "", fmt.Errorf("%s exists: it is never replaced; remove it first or choose another BASE", s.PrivateKeyFile())
	}
	fpr, generated, err := s.Ensure(ctx)
	if err == nil && !generated {
		return "", fmt.Errorf("%s appeared while generating: it is never replaced", s.PrivateKeyFile())
	}
	return fpr, err
}

// SignIfConfigured signs file (see SignFile) when the signer has a key
// base; without one it removes a stale file+".asc", which would not match
// the new file, and reports false.
func (s *Signer) SignIfConfigured(ctx context.Context, file string) (bool, error) {
	if s.opts.Base == "" {
		if err := os.Remove(file + SignatureSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
		return false, nil
	}
	return true, s.SignFile(ctx, file)
}

// SignFile makes sure the key exists (see Ensure) and writes file+".asc",
// an armored detached signature of file, atomically.
func (s *Signer) SignFile(ctx context.Context, file string) error {
	if _, _, err := s.Ensure(ctx); err != nil {
		return err
	}
	pass, err := s.Passphrase()
	if err != nil {
		return err
	}
	return SignFile(file, s.PrivateKeyFile(), pass)
}

// Entity returns the unlocked private key, which must exist (publishing
// never generates a key), for signers of other formats (OCI simple
// signing).
func (s *Signer) Entity() (*openpgp.Entity, error) {
	pass, err := s.Passphrase()
	if err != nil {
		return nil, err
	}
	return LoadSigner(s.PrivateKeyFile(), pass)
}

// PublicKey returns the armored public key (ensuring the key first).
func (s *Signer) PublicKey(ctx context.Context) ([]byte, error) {
	if _, _, err := s.Ensure(ctx); err != nil {
		return nil, err
	}
	return os.ReadFile(s.PublicKeyFile())
}

func exportPublic(e *openpgp.Entity, path string) error {
	var buf bytes.Buffer
	if err := writeArmored(&buf, openpgp.PublicKeyType, e.Serialize); err != nil {
		return fmt.Errorf("exporting public key: %w", err)
	}
	if err := fsutil.WriteFileBytes(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// lockFile takes an exclusive flock on .NAME.lock beside the key
// BASE=DIR/NAME. The lock file is removed again when the lock is released
// (so nothing is left beside the key); a locker that opened the file just
// before it was removed notices that its inode is no longer the one at the
// path and retries.
func lockFile(base string) (func(), error) {
	release, err := fsutil.Lock(filepath.Join(filepath.Dir(base), "."+filepath.Base(base)+".lock"), true)
	if err != nil {
		return nil, fmt.Errorf("SIGNING_KEY: %w", err)
	}
	return release, nil
}
