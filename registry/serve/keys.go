package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// keyFileSuffixes are the file kinds that hold private or TLS key material
// (matched on the end of the name, case-insensitively, never as a
// substring: example.com/private-tools is an ordinary image name).
var keyFileSuffixes = []string{".key", ".key.asc", ".pem", ".p12", ".pfx", ".sec", ".secret"}

// keyFileNames are GnuPG's private key stores, matched exactly.
var keyFileNames = map[string]bool{"secring.gpg": true, "secring.kbx": true, "trustdb.gpg": true}

// keyMaterial reports whether a file name is of a key-material kind, which
// is never served even when it ends up in the web root.
func keyMaterial(name string) bool {
	n := strings.ToLower(name)
	if keyFileNames[n] {
		return true
	}
	for _, suf := range keyFileSuffixes {
		if strings.HasSuffix(n, suf) {
			return true
		}
	}
	return false
}

// privateKeyHeaders open the armored or PEM forms of private keys.
var privateKeyHeaders = [][]byte{
	[]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
	[]byte("PRIVATE KEY-----"), // PEM: "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"
}

// holdsPrivateKey reports whether the file's first bytes are an armored
// private key, whatever its name.
func holdsPrivateKey(f *os.File) bool {
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, 0)
	head := buf[:n]
	for _, h := range privateKeyHeaders {
		if bytes.Contains(head, h) {
			return true
		}
	}
	return false
}

// resolveRoot returns the tree to serve for a web root: root/current when
// it is a directory (the symlink `mage publish` swaps atomically), else
// root. It is called for every request, so a server started before the
// first publish switches to the published tree as soon as it appears.
func resolveRoot(root string) string {
	cur := filepath.Join(root, "current")
	if fi, err := os.Stat(cur); err == nil && fi.IsDir() {
		return cur
	}
	return root
}
