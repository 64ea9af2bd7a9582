package sign

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/rktbuild/rktbuild/internal/fsutil"
)

// ErrPassphrase is returned (wrapped) when a private key needs a passphrase
// that is missing or wrong.
var ErrPassphrase = errors.New("passphrase")

// KeyFile resolves a key argument: an existing file is used as is; a base
// name BASE is completed to BASE+suffix when that file exists.
func KeyFile(keyOrBase, suffix string) string {
	if fi, err := os.Stat(keyOrBase); err == nil && !fi.IsDir() {
		return keyOrBase
	}
	if _, err := os.Stat(keyOrBase + suffix); err == nil {
		return keyOrBase + suffix
	}
	return keyOrBase
}

// LoadSigner reads a private key file and unlocks it with passphrase. The
// key must be an RSA or DSA primary key that may sign: the only signatures
// rkt's golang.org/x/crypto/openpgp accepts.
func LoadSigner(keyFile string, passphrase []byte) (*openpgp.Entity, error) {
	e, err := ReadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%s: is a public key: signing needs the private key (BASE%s)", keyFile, PrivateKeySuffix)
	}
	if err := RktReadable(e); err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if e.PrivateKey.Encrypted {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("%s: key is protected by a %w: set SIGNING_PASSPHRASE_FILE or KEY_PASSPHRASE", keyFile, ErrPassphrase)
		}
		if err := e.PrivateKey.Decrypt(passphrase); err != nil {
			return nil, fmt.Errorf("%s: wrong %w for this key (%v)", keyFile, ErrPassphrase, err)
		}
	}
	if _, ok := e.SigningKeyById(time.Now(), e.PrimaryKey.KeyId); !ok {
		return nil, fmt.Errorf("%s: primary key %s may not sign (expired, revoked or without the sign flag)", keyFile, Fingerprint(e))
	}
	return e, nil
}

// Sign writes an armored detached signature (with the CRC24 line) of
// message to w, made by signer's primary key.
func Sign(w io.Writer, signer *openpgp.Entity, message io.Reader) error {
	cfg := pgpConfig(time.Now())
	cfg.SigningKeyId = signer.PrimaryKey.KeyId
	bw := bufio.NewWriter(w)
	if err := writeArmored(bw, openpgp.SignatureType, func(aw io.Writer) error {
		return openpgp.DetachSign(aw, signer, message, cfg)
	}); err != nil {
		return err
	}
	return bw.Flush()
}

// SignFile signs file with the private key in keyFile (a key file, or a
// base name BASE for BASE.key.asc) and writes file+".asc" atomically.
// passphrase unlocks a protected key; it may be nil.
func SignFile(file, keyFile string, passphrase []byte) error {
	signer, err := LoadSigner(KeyFile(keyFile, PrivateKeySuffix), passphrase)
	if err != nil {
		return fmt.Errorf("sign %s: %w", file, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		return fmt.Errorf("sign: %s is not a regular file", file)
	}
	if err := fsutil.WriteFile(file+SignatureSuffix, 0o644, func(w io.Writer) error {
		return Sign(w, signer, bufio.NewReaderSize(f, 1<<20))
	}); err != nil {
		return fmt.Errorf("sign %s: %w", file, err)
	}
	return nil
}
