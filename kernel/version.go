// Package kernel builds the Linux kernel for rkt's stage1-kvm: it resolves
// and verifies the source (kernel.org-style release tarballs checked against
// pinned keys, the distribution's linux-source package, or a local tree),
// configures it (a full config from kernel/configs/ or the stage1-kvm
// fragment merged over tinyconfig, followed by a drift gate), applies patches
// idempotently, builds it out of tree and installs its headers.
//
// Pure logic (version parsing, URLs, config merging, the drift gate, header
// layout) is separate from I/O (downloads, make, patch) so tests can check it
// quickly.
package kernel

import (
	"fmt"
	"regexp"
	"strconv"
)

// Version is an upstream kernel version: 6.1, 6.1.112 or 6.12-rc3.
type Version struct {
	Major, Minor int
	// Patch is the stable patch level; 0 with HasPatch false for a
	// mainline release such as 6.1.
	Patch    int
	HasPatch bool
	// RC is the release-candidate number (6.12-rc3 → 3), 0 for a release.
	RC int
}

var versionRE = regexp.MustCompile(`^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?(?:-rc([0-9]+))?$`)

// ParseVersion parses an upstream kernel version as kernel.org names its
// tarballs. Versions before 3.0 (2.6.x) are not supported.
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("kernel version %q: expected MAJOR.MINOR[.PATCH] or MAJOR.MINOR-rcN, e.g. 6.1.112 or 6.12-rc3", s)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
		v.HasPatch = true
	}
	if m[4] != "" {
		v.RC, _ = strconv.Atoi(m[4])
		if v.RC == 0 {
			return Version{}, fmt.Errorf("kernel version %q: release candidates start at -rc1", s)
		}
	}
	if v.RC > 0 && v.HasPatch {
		return Version{}, fmt.Errorf("kernel version %q: release candidates have no patch level (use e.g. %d.%d-rc%d)", s, v.Major, v.Minor, v.RC)
	}
	if v.Major < 3 {
		return Version{}, fmt.Errorf("kernel version %q: versions before 3.0 are not supported", s)
	}
	return v, nil
}

// String returns the version as kernel.org spells it.
func (v Version) String() string {
	s := v.MajorMinor()
	if v.HasPatch {
		s += "." + strconv.Itoa(v.Patch)
	}
	if v.RC > 0 {
		s += "-rc" + strconv.Itoa(v.RC)
	}
	return s
}

// MajorMinor returns "MAJOR.MINOR", e.g. "6.1".
func (v Version) MajorMinor() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Mainline reports whether Linus Torvalds signs this release (X.Y and
// X.Y-rcN); stable releases X.Y.Z are signed by Greg Kroah-Hartman.
func (v Version) Mainline() bool { return !v.HasPatch || v.Patch == 0 }

// Tarball is the release tarball's name, e.g. linux-6.1.112.tar.xz.
func (v Version) Tarball() string { return "linux-" + v.String() + ".tar.xz" }

// SignatureName is the name of the detached signature over the
// uncompressed tar, e.g. linux-6.1.112.tar.sign.
func (v Version) SignatureName() string { return "linux-" + v.String() + ".tar.sign" }

// Dir is the release directory relative to the base URL: v6.x, or
// v6.x/testing for release candidates.
func (v Version) Dir() string {
	d := fmt.Sprintf("v%d.x", v.Major)
	if v.RC > 0 {
		d += "/testing"
	}
	return d
}

// Signer names the kernel.org key that must sign this release's tarball.
func (v Version) Signer() PinnedKey { return DefaultPins.signer(v) }
