package sign

// KeyFiles are the files of the key pair at base (BASE.key.asc and
// BASE.pub.asc). Steps that sign list them as inputs, so that replacing the
// key re-signs by content, whatever the path.
func KeyFiles(base string) []string {
	return []string{base + PrivateKeySuffix, base + PublicKeySuffix}
}
