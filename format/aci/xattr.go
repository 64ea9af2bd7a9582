package aci

import (
	"fmt"
	"sort"
	"strings"
)

// Extraction restores only the extended attributes an image legitimately
// needs. security.capability is the one file capabilities live in.
//
// Everything else is skipped and reported:
//   - trusted.* (e.g. trusted.overlay.opaque, trusted.overlay.redirect)
//     are read by overlayfs, and extracted trees become the lower layer of
//     nspawn's overlay: an image could change how its own overlay behaves.
//   - security.selinux, security.ima, security.evm and other security.*
//     names are policy the host sets, not the image.
//   - user.* is skipped too: although unprivileged, user.overlay.* is read
//     by overlayfs mounted with userxattr, user.fuseoverlayfs.* by
//     fuse-overlayfs and user.containers.override_stat by containers'
//     storage to fake owners and modes, so an image's user.* names can
//     still steer the container tooling that stacks it.
var allowedXattrs = map[string]bool{CapabilityXattr: true}

// xattrAllowed reports whether extraction restores the named attribute.
func xattrAllowed(name string) bool { return allowedXattrs[name] }

// skippedXattrs counts attributes extraction refused, by name.
type skippedXattrs map[string]int

// String lists the skipped names and counts, sorted, or "".
func (s skippedXattrs) String() string {
	if len(s) == 0 {
		return ""
	}
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d entries)", n, s[n])
	}
	return strings.Join(parts, ", ")
}
