package nspawn

import "embed"

// Patches are the patches the static systemd-nspawn build applies
// (patches/systemd/*.patch, patches/util-linux/*.patch), embedded so that a
// repository importing rktbuild's targets builds nspawn without this
// checkout; a checkout's nspawn/patches directory takes precedence.
//
//go:embed patches
var Patches embed.FS
