package static

import (
	"github.com/rktbuild/rktbuild/host"
)

// BuildDeps are the Debian packages the host build needs: the compilers
// and build tools, apt's source tools, and the development packages whose
// static archives (.a) end up in the binary. util-linux's libmount and
// libblkid are not among them: Debian ships no static archives of those,
// so they are built from the util-linux source package.
var BuildDeps = []string{
	"build-essential", // gcc, make, libc6-dev (libc.a)
	"dpkg-dev",        // dpkg-source, which apt-get source runs
	"binutils",        // objcopy (symbol renaming, stripping), nm
	"patch",
	"pkg-config",
	"meson",
	"ninja-build",
	"gperf",
	"python3-jinja2", // systemd's meson build renders templates with it
	"libcap-dev",     // libcap.a
	"libseccomp-dev", // libseccomp.a
	"libacl1-dev",    // libacl.a
	"libcrypt-dev",   // libcrypt.a
}

// Tools are the commands behind BuildDeps, for `mage doctor`.
var Tools = []host.Tool{
	{Command: "gcc", Package: "build-essential", VersionArgs: []string{"--version"}},
	{Command: "dpkg-source", Package: "dpkg-dev", VersionArgs: []string{"--version"}},
	{Command: "objcopy", Package: "binutils", VersionArgs: []string{"--version"}},
	{Command: "patch", Package: "patch", VersionArgs: []string{"--version"}},
	{Command: "pkg-config", Package: "pkg-config", VersionArgs: []string{"--version"}},
	{Command: "meson", Package: "meson", VersionArgs: []string{"--version"}},
	{Command: "ninja", Package: "ninja-build", VersionArgs: []string{"--version"}},
	{Command: "gperf", Package: "gperf", VersionArgs: []string{"--version"}},
	{Command: "apt-get", Package: "apt", VersionArgs: []string{"--version"}},
}
