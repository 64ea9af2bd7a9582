//go:build linux

// Command smokeinit is the init of `mage stage1:smoke`'s test rootfs. It
// runs as PID 1 in the guest booted the way rkt's qemu hypervisor boots a
// stage1-kvm kernel (root over virtio-9p), prints a start marker, checks
// that the root is 9p and writable and that /proc, /sys, devtmpfs and
// cgroups work, prints "RKTBUILD-SMOKE-OK" (or "RKTBUILD-SMOKE-FAIL: ..."),
// then powers the machine off. Without a power-off driver the kernel's
// halt path runs, so the hypervisor only exits when the reboot patch makes
// a halt return control to the host.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
)

func main() {
	fmt.Println("RKTBUILD-SMOKE-START")
	var fails []string
	check := func(what string, err error) {
		if err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", what, err))
			fmt.Printf("smoke: %s: FAIL: %v\n", what, err)
			return
		}
		fmt.Printf("smoke: %s: ok\n", what)
	}
	check("mount /proc", mount("proc", "/proc", "proc", ""))
	check("mount /sys", mount("sysfs", "/sys", "sysfs", ""))
	check("devtmpfs on /dev", devtmpfs())
	check("/dev/null is a character device", charDev("/dev/null"))
	check("9p root", rootIs9p())
	check("root is writable", writable("/smoke-write-test"))
	check("cgroup2 on /sys/fs/cgroup", cgroups())
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	release := str(uts.Release[:])
	if len(fails) == 0 {
		fmt.Printf("RKTBUILD-SMOKE-OK release=%s\n", release)
	} else {
		fmt.Printf("RKTBUILD-SMOKE-FAIL: %s\n", strings.Join(fails, "; "))
	}
	syscall.Sync()
	// Power off; with the reboot patch this returns control to the host.
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Println("RKTBUILD-SMOKE-FAIL: reboot(POWER_OFF) returned")
	select {}
}

func mount(src, dir, fstype, data string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, dir, fstype, 0, data); err != nil && err != syscall.EBUSY {
		return err
	}
	return nil
}

func mounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 {
			m[fields[1]] = fields[2]
		}
	}
	return m, sc.Err()
}

func devtmpfs() error {
	m, err := mounts()
	if err != nil {
		return err
	}
	if m["/dev"] == "devtmpfs" {
		return nil
	}
	return mount("devtmpfs", "/dev", "devtmpfs", "")
}

func charDev(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("mode %v", fi.Mode())
	}
	return nil
}

func rootIs9p() error {
	m, err := mounts()
	if err != nil {
		return err
	}
	if m["/"] != "9p" {
		return fmt.Errorf("/ is %q, want 9p", m["/"])
	}
	return nil
}

func writable(p string) error {
	if err := os.WriteFile(p, []byte("ok\n"), 0o644); err != nil {
		return err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if string(b) != "ok\n" {
		return fmt.Errorf("read back %q", b)
	}
	return os.Remove(p)
}

func cgroups() error {
	if err := mount("cgroup2", "/sys/fs/cgroup", "cgroup2", ""); err != nil {
		return err
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return err
	}
	if err := os.Mkdir("/sys/fs/cgroup/smoke", 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("creating a cgroup: %w", err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/smoke/cgroup.procs"); err != nil {
		return fmt.Errorf("new cgroup has no cgroup.procs: %w", err)
	}
	fmt.Printf("smoke: cgroup controllers: %s\n", strings.TrimSpace(string(b)))
	return nil
}

func str(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
