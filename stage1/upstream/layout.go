package upstream

import (
	"fmt"
	"strings"

	"github.com/appc/spec/schema"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/stage1"
)

// Symlinks are the top-level links of rkt's stage1 rootfs
// (usr_from_coreos/build-usr.mk: flavor, lib64, lib, bin; sbin is ours, as
// Debian's units name /sbin paths) and the etc/mtab link (aci-install.mk).
var Symlinks = [][2]string{
	{"flavor", "kvm"},
	{"lib", "usr/lib"},
	{"lib64", "usr/lib64"},
	{"bin", "usr/bin"},
	{"sbin", "usr/sbin"},
	{"etc/mtab", "../proc/self/mounts"},
	{"usr/lib/systemd/system/ctrl-alt-del.target", "reboot.target"},
}

// Dirs are the directories rkt's makefiles create empty.
var Dirs = []string{
	"opt/stage2", "rkt/status", "rkt/env", "rkt/iottymux", "var/run",
	"usr/lib/systemd/system/default.target.wants",
	"usr/lib/systemd/system/sockets.target.wants",
}

// RktFiles maps files of rkt's source tree (under stage1/) to their place
// in the rootfs: the os-release, the network configuration and hosts
// fallback, the kvm flavor's account and sshd files (rkt put the units in
// usr/lib64/systemd/system, CoreOS's unit directory; Debian's systemd reads
// usr/lib/systemd/system).
var RktFiles = [][2]string{
	{"aci/os-release", "etc/os-release"},
	{"net/rootfs/etc/hosts-fallback", "etc/hosts-fallback"},
	{"net/rootfs/etc/rkt/net.d/99-default.conf", "etc/rkt/net.d/99-default.conf"},
	{"net/rootfs/etc/rkt/net.d/99-default-restricted.conf", "etc/rkt/net.d/99-default-restricted.conf"},
	{"usr_from_kvm/files/passwd", "etc/passwd"},
	{"usr_from_kvm/files/shadow", "etc/shadow"},
	{"usr_from_kvm/files/group", "etc/group"},
	{"usr_from_kvm/files/sshd_config", "etc/ssh/sshd_config"},
	{"usr_from_kvm/files/sshd.socket", "usr/lib/systemd/system/sshd.socket"},
	{"usr_from_kvm/files/sshd-prep.service", "usr/lib/systemd/system/sshd-prep.service"},
	{"usr_from_kvm/files/sshd@.service", "usr/lib/systemd/system/sshd@.service"},
	{"reaper/reaper.sh", "reaper.sh"},
}

// UnitsDir is where rkt's own units (stage1/units/units) go.
const UnitsDir = "usr/lib/systemd/system"

// PtmxDropIn makes the pod's /dev/pts hand out a world-usable ptmx before
// prepare-app runs: qemu 7.2's 9p (with the CVE-2023-2861 fix) refuses to
// create device nodes, so prepare-app must link dev/ptmx to dev/pts/ptmx,
// which it only does when dev/pts/ptmx is usable (mode 0666).
const PtmxDropIn = "[Service]\nExecStartPre=/usr/bin/mount -o remount,ptmxmode=0666 /dev/pts\n"

// PtmxDropInPath is the drop-in's place in the rootfs.
const PtmxDropInPath = "etc/systemd/system/prepare-app@.service.d/05-ptmxmode.conf"

// QemuConfPath is the /qemu wrapper's configuration in the rootfs.
const QemuConfPath = "etc/rktbuild/qemu.conf"

// Manifest returns the manifest of rkt's stage1-kvm for version v
// (stage1/aci/aci-manifest.in with the kvm flavor's enter and stop).
func Manifest(v stage1.RktVersion) (*schema.ImageManifest, error) {
	m, err := aci.NewManifest(stage1.UpstreamName, map[string]string{
		"version": v.String(), "os": "linux", "arch": "amd64",
	})
	if err != nil {
		return nil, err
	}
	m.Annotations = stage1.Annotations(v)
	if err := aci.ValidateManifest(m); err != nil {
		return nil, err
	}
	return m, nil
}

// SystemdVersion turns a Debian systemd version (252.39-1~deb12u2) into
// the tag form rkt reads from /systemd-version (v252).
func SystemdVersion(debVersion string) (string, error) {
	v := debVersion
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	major, _, _ := strings.Cut(v, ".")
	major, _, _ = strings.Cut(major, "-")
	if major == "" || strings.Trim(major, "0123456789") != "" {
		return "", fmt.Errorf("systemd version %q: expected MAJOR.MINOR-REVISION", debVersion)
	}
	return "v" + major, nil
}
