//go:build linux

// Command qemuwrap is the /qemu a from-source stage1-kvm ships. rkt's kvm
// flavor runs <stage1 rootfs>/qemu on the host with a hard-coded command
// line (-enable-kvm, tap nics with vhost=on, -L <stage1 rootfs>). The
// wrapper is static, so it does not depend on the host's libraries, and it:
//
//   - keeps KVM when /dev/kvm can be used, and switches to TCG when it
//     cannot or when the configuration says so (accel=tcg);
//   - turns vhost=on into vhost=off when /dev/vhost-net cannot be opened;
//   - runs the distribution's qemu-system-x86_64 from the stage1 rootfs
//     through the rootfs's own dynamic loader and libraries, with qemu's
//     modules (the TCG accelerator is one in qemu 7.2) from the rootfs.
//
// The configuration is the file etc/rktbuild/qemu.conf in the stage1
// rootfs (accel=auto|kvm|tcg); the environment variable
// RKTBUILD_QEMU_ACCEL overrides it.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// StartMarker starts the line the wrapper prints before running qemu.
const StartMarker = "rktbuild qemu: starting"

// Paths inside the stage1 rootfs.
const (
	confPath   = "etc/rktbuild/qemu.conf"
	loaderPath = "usr/lib64/ld-linux-x86-64.so.2"
	qemuPath   = "usr/bin/qemu-system-x86_64"
	moduleDir  = "usr/lib/x86_64-linux-gnu/qemu"
)

// libDirs are the rootfs library directories, searched in this order.
var libDirs = []string{"usr/lib/x86_64-linux-gnu", "usr/lib", "usr/lib64"}

// KVM ioctls (linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12
)

func main() {
	self, err := os.Executable()
	if err != nil {
		fail("cannot find my own path: %v", err)
	}
	root := filepath.Dir(self)
	accel, err := configuredAccel(root)
	if err != nil {
		fail("%v", err)
	}
	useKVM, why := decideKVM(accel, kvmUsable)
	vhost := vhostUsable()
	args := Rewrite(os.Args[1:], useKVM, vhost)
	// One line when qemu starts (boot time measurements start here).
	if useKVM {
		fmt.Fprintf(os.Stderr, "%s: accel kvm, vhost %v\n", StartMarker, vhost)
	} else {
		fmt.Fprintf(os.Stderr, "%s: accel tcg (%s), vhost %v\n", StartMarker, why, vhost)
	}
	var lib []string
	for _, d := range libDirs {
		lib = append(lib, filepath.Join(root, d))
	}
	argv := append([]string{"qemu-system-x86_64", "--library-path", strings.Join(lib, ":"), "--argv0", "qemu-system-x86_64",
		filepath.Join(root, qemuPath)}, args...)
	env := append(os.Environ(), "QEMU_MODULE_DIR="+filepath.Join(root, moduleDir))
	loader := filepath.Join(root, loaderPath)
	if err := syscall.Exec(loader, argv, env); err != nil {
		fail("cannot run %s: %v", loader, err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "rktbuild qemu: "+format+"\n", a...)
	os.Exit(1)
}

// configuredAccel reads accel from the environment or the rootfs's
// configuration file; the default is auto.
func configuredAccel(root string) (string, error) {
	if v := os.Getenv("RKTBUILD_QEMU_ACCEL"); v != "" {
		return checkAccel(v, "RKTBUILD_QEMU_ACCEL")
	}
	f, err := os.Open(filepath.Join(root, confPath))
	if os.IsNotExist(err) {
		return "auto", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	accel := "auto"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && strings.TrimSpace(k) == "accel" {
			accel = strings.TrimSpace(v)
		}
	}
	return checkAccel(accel, filepath.Join(root, confPath))
}

func checkAccel(v, where string) (string, error) {
	switch v {
	case "auto", "kvm", "tcg":
		return v, nil
	}
	return "", fmt.Errorf("%s: accel=%q: expected auto, kvm or tcg", where, v)
}

// decideKVM says whether to keep -enable-kvm, and if not, why.
func decideKVM(accel string, usable func() error) (bool, string) {
	switch accel {
	case "tcg":
		return false, "accel=tcg"
	case "kvm":
		return true, ""
	}
	if err := usable(); err != nil {
		return false, "/dev/kvm cannot be used: " + err.Error()
	}
	return true, ""
}

// kvmUsable opens /dev/kvm, checks the API version and creates a VM.
func kvmUsable() error {
	fd, err := syscall.Open("/dev/kvm", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), kvmGetAPIVersion, 0)
	if errno != 0 {
		return errno
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("KVM API version %d, expected %d", v, kvmAPIVersion)
	}
	vm, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), kvmCreateVM, 0)
	if errno != 0 {
		return fmt.Errorf("KVM_CREATE_VM: %v", errno)
	}
	syscall.Close(int(vm))
	return nil
}

func vhostUsable() bool {
	fd, err := syscall.Open("/dev/vhost-net", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	syscall.Close(fd)
	return true
}

// Rewrite adapts rkt's qemu command line: without KVM, -enable-kvm
// becomes -accel tcg; without vhost-net, vhost=on in a -net/-netdev value
// becomes vhost=off. Other arguments pass unchanged.
func Rewrite(args []string, kvm, vhost bool) []string {
	out := make([]string, 0, len(args)+1)
	for _, a := range args {
		switch {
		case a == "-enable-kvm" && !kvm:
			out = append(out, "-accel", "tcg")
		case !vhost && strings.Contains(a, "vhost=on"):
			parts := strings.Split(a, ",")
			for i, p := range parts {
				if p == "vhost=on" {
					parts[i] = "vhost=off"
				}
			}
			out = append(out, strings.Join(parts, ","))
		default:
			out = append(out, a)
		}
	}
	return out
}
