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

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/internal/say"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/rktbuild/rktbuild/config"
)

// PassphraseEnv is the environment variable read for the signing key's
// passphrase when SIGNING_PASSPHRASE_FILE is empty.
const PassphraseEnv = "KEY_PASSPHRASE"

// Passphrase returns the signing key passphrase: the contents of
// SIGNING_PASSPHRASE_FILE (one trailing newline removed) when set, else
// $KEY_PASSPHRASE, else nil (an unprotected key). It never comes from argv.
func Passphrase(c *config.Config) ([]byte, error) {
	return passphrase(c.SigningPassphraseFile, os.LookupEnv)
}

// PassphraseFromEnv is Passphrase for programs without the configuration
// (gpg-sign-tool): SIGNING_PASSPHRASE_FILE and KEY_PASSPHRASE are read from
// lookup (os.LookupEnv when nil).
func PassphraseFromEnv(lookup func(string) (string, bool)) ([]byte, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	file, _ := lookup("SIGNING_PASSPHRASE_FILE")
	return passphrase(file, lookup)
}

func passphrase(file string, lookup func(string) (string, bool)) ([]byte, error) {
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

// IdentityFromConfig returns the KEY_USE_NAME/COMMENT/EMAIL identity; a
// missing one is an error naming it.
func IdentityFromConfig(c *config.Config) (Identity, error) {
	id := Identity{Name: c.KeyUseName, Comment: c.KeyUseComment, Email: c.KeyUseEmail}
	return id, id.Validate()
}

var ensureMu sync.Mutex

// ensureBits is the size EnsureKey generates (tests lower it for speed).
var ensureBits = DefaultBits

// EnsureKey makes sure the configured signing key SIGNING_KEY exists:
// when BASE.key.asc is missing it generates a DefaultBits RSA key with the
// KEY_USE_* identity and the configured passphrase, prints its fingerprint
// and returns generated=true. A missing BASE.pub.asc is re-exported from the
// private key. It is safe to call from several goroutines and processes at
// once (a lock file .NAME.lock beside the key serialises them).
func EnsureKey(ctx context.Context, c *config.Config) (fingerprint string, generated bool, err error) {
	if err := c.Require("SIGNING_KEY"); err != nil {
		return "", false, err
	}
	base := c.SigningKey
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
			return Fingerprint(pub), false, nil
		}
		e, err := ReadKeyFile(priv)
		if err != nil {
			return "", false, fmt.Errorf("SIGNING_KEY: %w", err)
		}
		if e.PrivateKey == nil {
			return "", false, fmt.Errorf("SIGNING_KEY: %s holds a public key, not a private key", priv)
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
	id, err := IdentityFromConfig(c)
	if err != nil {
		return "", false, err
	}
	pass, err := Passphrase(c)
	if err != nil {
		return "", false, err
	}
	say.Linef(ctx, "signing key %s%s does not exist: generating %d-bit RSA key for %s", base, PrivateKeySuffix, ensureBits, id)
	fpr, err := GenKey(base, id, ensureBits, pass)
	if err != nil {
		return "", false, err
	}
	say.Linef(ctx, "generated signing key %s: fingerprint %s (public key %s)", base, strings.ToUpper(fpr), base+PublicKeySuffix)
	return fpr, true, nil
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

// SignArtifact signs file with the configured signing key (generated on
// first use by EnsureKey) and its passphrase, writing file+".asc".
func SignArtifact(ctx context.Context, c *config.Config, file string) error {
	if _, _, err := EnsureKey(ctx, c); err != nil {
		return err
	}
	pass, err := Passphrase(c)
	if err != nil {
		return err
	}
	return SignFile(file, c.SigningKey+PrivateKeySuffix, pass)
}
