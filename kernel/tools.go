package kernel

import "github.com/rktbuild/rktbuild/host"

// Tools are the host tools a kernel build runs, and the libelf headers
// objtool needs for x86_64 kernels.
var Tools = []host.Tool{
	{Command: "make", Package: "make", VersionArgs: []string{"--version"}},
	{Command: "gcc", Package: "gcc", VersionArgs: []string{"--version"}},
	{Command: "flex", Package: "flex", VersionArgs: []string{"--version"}},
	{Command: "bison", Package: "bison", VersionArgs: []string{"--version"}},
	{Command: "bc", Package: "bc", VersionArgs: []string{"--version"}},
	{Command: "xz", Package: "xz-utils", VersionArgs: []string{"--version"}},
	{Command: "patch", Package: "patch", VersionArgs: []string{"--version"}},
	{Command: "tar", Package: "tar", VersionArgs: []string{"--version"}},
	{Command: "rsync", Package: "rsync", VersionArgs: []string{"--version"}},
	{Command: "perl", Package: "perl", VersionArgs: []string{"-v"}},
	{Command: "go", Package: "golang-go", VersionArgs: []string{"version"}},
	{File: "/usr/include/gelf.h", Package: "libelf-dev"},
}
