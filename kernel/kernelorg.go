package kernel

import (
	"context"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// KernelOrg fetches release tarballs from a kernel.org-style tree and
// checks the whole chain before the tarball is used:
//
//  1. <dir>/sha256sums.asc is clear-signed by the kernel.org autosigner;
//  2. the tarball's SHA-256 is the one sha256sums.asc lists;
//  3. linux-X.tar.sign is a signature over the *uncompressed* tar by the
//     release's developer (Torvalds for mainline, Kroah-Hartman for stable).
//
// Keys come from KeysDir and are never fetched.
type KernelOrg struct {
	BaseURL  string // e.g. https://cdn.kernel.org/pub/linux/kernel
	CacheDir string // downloads land in CacheDir/<v6.x>/
	KeysDir  string
	Client   *http.Client // nil means http.DefaultClient
	// Pins overrides the pinned keys (tests use their own); nil means
	// DefaultPins.
	Pins *Pins
}

// Pins are the keys a kernel.org-style tree must be signed with.
type Pins struct {
	Autosigner PinnedKey // signs sha256sums.asc
	Stable     PinnedKey // signs X.Y.Z tarballs
	Mainline   PinnedKey // signs X.Y and X.Y-rcN tarballs
}

// DefaultPins are kernel.org's keys.
var DefaultPins = Pins{Autosigner: Autosigner, Stable: KroahHartman, Mainline: Torvalds}

// signer returns the key that must sign v's tarball.
func (p Pins) signer(v Version) PinnedKey {
	if v.Mainline() {
		return p.Mainline
	}
	return p.Stable
}

// Fetch returns the path of the verified tarball of v in the cache. A
// failed check removes only the file that failed it and names the check.
func (k KernelOrg) Fetch(ctx context.Context, v Version) (string, error) {
	pins := DefaultPins
	if k.Pins != nil {
		pins = *k.Pins
	}
	dev := pins.signer(v)
	keys, err := LoadKeys(k.KeysDir, pins.Autosigner, dev)
	if err != nil {
		return "", err
	}
	base := strings.TrimRight(k.BaseURL, "/") + "/" + v.Dir() + "/"
	dir := filepath.Join(k.CacheDir, filepath.FromSlash(v.Dir()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}

	// 1. The signed checksum list: always fresh (it grows with releases).
	sumsPath := filepath.Join(dir, "sha256sums.asc")
	_ = os.Remove(sumsPath)
	if err := Download(ctx, k.Client, base+"sha256sums.asc", sumsPath); err != nil {
		return "", err
	}
	sumsData, err := os.ReadFile(sumsPath)
	if err != nil {
		return "", err
	}
	sums, err := keys.VerifySums(pins.Autosigner, base+"sha256sums.asc", sumsData)
	if err != nil {
		_ = os.Remove(sumsPath)
		return "", err
	}
	want, ok := sums[v.Tarball()]
	if !ok {
		return "", &VerifyError{base + "sha256sums.asc", "has no entry for " + v.Tarball() + " (is " + v.String() + " released?)"}
	}

	// 2. The tarball, checked against the signed checksum.
	tarball := filepath.Join(dir, v.Tarball())
	if err := Download(ctx, k.Client, base+v.Tarball(), tarball); err != nil {
		return "", err
	}
	got, err := fsutil.HashFile(tarball)
	if err != nil {
		return "", err
	}
	if got != want {
		_ = os.Remove(tarball)
		return "", &VerifyError{base + v.Tarball(), fmt.Sprintf("sha256 %s, but the signed sha256sums.asc lists %s (the download was removed)", got, want)}
	}

	// 3. The developer's signature over the uncompressed tar.
	sigPath := filepath.Join(dir, v.SignatureName())
	_ = os.Remove(sigPath)
	if err := Download(ctx, k.Client, base+v.SignatureName(), sigPath); err != nil {
		return "", fmt.Errorf("missing signature: %w", err)
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(decompressTo(ctx, tarball, pw)) }()
	err = keys.VerifyDetached(dev, base+v.SignatureName(), pr, sig)
	_ = pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		_ = os.Remove(sigPath)
		return "", err
	}
	step.Logf(ctx, "%s: sha256 and %s's signature verified", v.Tarball(), dev.Name)
	return tarball, nil
}
