package sign

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/appc/spec/schema/types"
)

// TrustStore is a directory of trusted public keys in rkt's trustedkeys
// layout, which rkt reads from /etc/rkt/trustedkeys:
//
//	Dir/root.d/<fingerprint>                  trusted for every image name
//	Dir/prefix.d/<prefix>/<fingerprint>      trusted for names under prefix
//
// A prefix is an appc identifier such as example.com/images; its '/'
// separators are directories. Each file holds one ASCII-armored public key
// and is named by the key's lowercase hex v4 fingerprint. An empty file
// masks a key of that fingerprint trusted at an outer level, as in rkt.
type TrustStore struct {
	Dir string
}

// RootDir holds the keys trusted for every image name.
func (ts TrustStore) RootDir() string { return filepath.Join(ts.Dir, "root.d") }

// PrefixDir holds the keys trusted for image-name prefixes.
func (ts TrustStore) PrefixDir() string { return filepath.Join(ts.Dir, "prefix.d") }

// Trust stores armoredPub as trusted for image names starting with prefix
// (an appc identifier; "" trusts it for every name, in root.d) and returns
// the key's fingerprint. A binary key is stored armored. The file is
// written atomically.
func (ts TrustStore) Trust(prefix string, armoredPub []byte) (string, error) {
	dir := ts.RootDir()
	if prefix != "" {
		if err := validName(prefix); err != nil {
			return "", fmt.Errorf("trust: prefix %q: %v (use a lowercase image-name prefix such as example.com/images)", prefix, err)
		}
		dir = filepath.Join(ts.PrefixDir(), filepath.FromSlash(prefix))
	}
	if n := bytes.Count(armoredPub, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")); n > 1 {
		return "", fmt.Errorf("trust: the key file holds %d armored keys: trust them one at a time", n)
	}
	if bytes.Contains(armoredPub, []byte("PRIVATE KEY BLOCK")) {
		return "", errors.New("trust: that is a private key: give the public key (BASE.pub.asc or gpg --armor --export)")
	}
	el, err := readKeys(armoredPub)
	if err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	if len(el) != 1 {
		return "", fmt.Errorf("trust: the key file holds %d keys: trust them one at a time", len(el))
	}
	e := el[0]
	if e.PrivateKey != nil {
		return "", errors.New("trust: that is a private key: give the public key (BASE.pub.asc or gpg --armor --export)")
	}
	if err := RktReadable(e); err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	data := armoredPub
	if !bytes.HasPrefix(bytes.TrimSpace(armoredPub), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		var buf bytes.Buffer
		if err := writeArmored(&buf, openpgp.PublicKeyType, e.Serialize); err != nil {
			return "", fmt.Errorf("trust: armoring key: %w", err)
		}
		data = buf.Bytes()
	}
	fpr := Fingerprint(e)
	if err := fsutil.WriteFileBytes(filepath.Join(dir, fpr), data, 0o644); err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	return fpr, nil
}

// validName checks an image name or prefix: an appc identifier (which
// rkt requires) whose '/'-separated parts are real path components.
func validName(s string) error {
	if _, err := types.NewACIdentifier(s); err != nil {
		return err
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || part == "." || part == ".." {
			return errors.New("empty, '.' or '..' path component")
		}
	}
	return nil
}

// Keyring returns the keys trusted for image name the way rkt's keystore
// collects them: every key in root.d, then every key in each directory on
// the way from prefix.d/<first component of name> down to
// prefix.d/<name>, where a directory counts when its path is a string
// prefix of prefix.d/<name> (rkt's rule: a key for example.com/app also
// covers example.com/application).
func (ts TrustStore) Keyring(name string) (openpgp.EntityList, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("image name %q: %v", name, err)
	}
	trusted := map[string]*openpgp.Entity{}
	walk := func(root, full string) error {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if strings.HasPrefix(full, path) {
					return nil
				}
				return filepath.SkipDir
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Size() == 0 {
				delete(trusted, d.Name()) // a mask, as in rkt
				return nil
			}
			e, err := trustedEntity(path)
			if err != nil {
				return err
			}
			trusted[d.Name()] = e
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := walk(ts.RootDir(), ts.RootDir()); err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(name, "/")
	full := filepath.Join(ts.PrefixDir(), filepath.FromSlash(name))
	if err := walk(filepath.Join(ts.PrefixDir(), first), full); err != nil {
		return nil, err
	}
	fprs := make([]string, 0, len(trusted))
	for f := range trusted {
		fprs = append(fprs, f)
	}
	sort.Strings(fprs)
	el := make(openpgp.EntityList, 0, len(fprs))
	for _, f := range fprs {
		el = append(el, trusted[f])
	}
	return el, nil
}

// trustedEntity reads one trusted key and checks its file is named by its
// fingerprint (rkt refuses a mismatch).
func trustedEntity(path string) (*openpgp.Entity, error) {
	e, err := ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	if err := RktReadable(e); err != nil {
		return nil, fmt.Errorf("trust store: %s: %w; remove it", path, err)
	}
	if f := Fingerprint(e); f != filepath.Base(path) {
		return nil, fmt.Errorf("trust store: %s holds key %s: the file name must be the key's fingerprint (re-add it with sign:trust)", path, f)
	}
	return e, nil
}

// Verify checks that sig is a valid detached signature of signed by a key
// trusted for image name (root.d keys, plus prefix.d keys whose prefix
// matches name) and returns the signer's user ID. Errors wrap
// ErrBadSignature, ErrUnknownKey or ErrNotSignature.
func (ts TrustStore) Verify(name string, signed io.ReadSeeker, sig io.Reader) (string, error) {
	keyring, err := ts.Keyring(name)
	if err != nil {
		return "", fmt.Errorf("verify %s: %w", name, err)
	}
	ps, err := parseSignature(sig)
	if err != nil {
		return "", fmt.Errorf("verify %s: %w", name, err)
	}
	if len(keyring) == 0 {
		return "", fmt.Errorf("verify %s: %w: no key in %s is trusted for this name: add one with `mage sign:trust PREFIX PUBKEY -fingerprint=FPR`", name, ErrUnknownKey, ts.Dir)
	}
	if _, err := signed.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("verify %s: %w", name, err)
	}
	signer, err := verify(keyring, signed, ps, fmt.Sprintf("a key trusted for %s in %s", name, ts.Dir))
	if err != nil {
		return "", fmt.Errorf("verify %s: %w", name, err)
	}
	return UserID(signer), nil
}
