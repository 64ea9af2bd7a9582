package sign

import "os"

// KeyPairExists reports whether both halves of the key pair at base
// (base.key.asc and base.pub.asc) exist. It reads no key: a no-op build
// checks existence without paying for parsing the private key.
func KeyPairExists(base string) bool {
	for _, f := range KeyFiles(base) {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}
