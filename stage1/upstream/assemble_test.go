package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/stage1"
)

// assembleFixture lays out generated inputs for Assemble: every picked
// file and firmware in an unpacked-packages tree, rkt's files and units in
// a source tree, every program and plugin, and the package versions.
func assembleFixture(t *testing.T) AssembleOptions {
	t.Helper()
	work := t.TempDir()
	w := func(p, content string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	o := AssembleOptions{
		RktSource: filepath.Join(work, "rkt"), Programs: filepath.Join(work, "programs"),
		Staging: filepath.Join(work, "staging"), VersionsFile: filepath.Join(work, "versions"),
		Wrapper: filepath.Join(work, "qemu"), Accel: "tcg",
	}
	for _, p := range Picks {
		w(filepath.Join(o.Staging, strings.ReplaceAll(p, "*", "252")), "file "+p, 0o755)
	}
	for _, f := range Firmware[:3] {
		w(filepath.Join(o.Staging, "usr/share/seabios", f), "fw "+f, 0o644)
		os.MkdirAll(filepath.Join(o.Staging, "usr/share/qemu"), 0o755)
		// Debian links /usr/share/qemu to the other packages' files.
		if err := os.Symlink("../seabios/"+f, filepath.Join(o.Staging, "usr/share/qemu", f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range Firmware[3:] {
		w(filepath.Join(o.Staging, "usr/share/qemu", f), "fw "+f, 0o644)
	}
	if err := MergeUsr(o.Staging); err != nil {
		t.Fatal(err)
	}
	for _, f := range RktFiles {
		w(filepath.Join(o.RktSource, "stage1", f[0]), "rkt "+f[0], 0o644)
	}
	for _, u := range []string{"exit.target", "reboot.target", "sysusers.service"} {
		w(filepath.Join(o.RktSource, "stage1/units/units", u), "unit "+u, 0o644)
	}
	for _, p := range GoPrograms {
		w(filepath.Join(o.Programs, filepath.Base(p)), "prog", 0o755)
	}
	for name := range CPrograms {
		w(filepath.Join(o.Programs, name), "prog", 0o755)
	}
	for _, p := range NetPlugins {
		w(filepath.Join(o.Programs, "plugins", filepath.Base(p)), "plugin", 0o755)
	}
	w(o.Wrapper, "wrapper", 0o755)
	w(o.VersionsFile, "bash 5.2.15-2+b8\nsystemd 252.39-1~deb12u2\n", 0o644)
	return o
}

// TestAssemble checks the layout rkt's stage1 programs and systemd rely
// on, and that our kernel layer (headers under usr/lib/modules) renders
// over it without hiding lib -> usr/lib, while the old layout (a real
// /lib) is refused.
func TestAssemble(t *testing.T) {
	o := assembleFixture(t)
	root := filepath.Join(t.TempDir(), "rootfs")
	os.MkdirAll(root, 0o755)
	if err := Assemble(root, o); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"flavor": "kvm", "lib": "usr/lib", "lib64": "usr/lib64", "bin": "usr/bin", "etc/mtab": "../proc/self/mounts",
		"usr/lib/systemd/system/ctrl-alt-del.target": "reboot.target"}
	for l, want := range links {
		if got, err := os.Readlink(filepath.Join(root, l)); err != nil || got != want {
			t.Errorf("%s -> %q %v, want %q", l, got, err, want)
		}
	}
	files := map[string]string{
		"systemd-version": "v252\n",
		PtmxDropInPath:    PtmxDropIn,
		"etc/rkt/net.d/99-default-restricted.conf": "rkt net/rootfs/etc/rkt/net.d/99-default-restricted.conf",
		"usr/lib/systemd/system/sshd.socket":       "rkt usr_from_kvm/files/sshd.socket",
		"usr/lib/systemd/system/exit.target":       "unit exit.target",
		"bios-256k.bin":                            "fw bios-256k.bin",
		"efi-virtio.rom":                           "fw efi-virtio.rom",
		"qemu":                                     "wrapper",
		"init":                                     "prog",
		"enter_kvm":                                "prog",
		"prepare-app":                              "prog",
		"usr/lib/rkt/plugins/net/host-local":       "plugin",
		"usr/lib/systemd/systemd":                  "file usr/lib/systemd/systemd",
		"usr/bin/qemu-system-x86_64":               "file usr/bin/qemu-system-x86_64",
	}
	for f, want := range files {
		if got, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(got) != want {
			t.Errorf("%s = %q %v, want %q", f, got, err, want)
		}
	}
	if conf, _ := os.ReadFile(filepath.Join(root, QemuConfPath)); !strings.Contains(string(conf), "\naccel=tcg\n") {
		t.Errorf("qemu.conf: %q", conf)
	}
	for _, d := range Dirs {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("dir %s: %v", d, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "reaper.sh")); fi == nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("reaper.sh not executable: %v", fi)
	}

	// Our kernel layer over it: headers under usr/lib/modules pass, a real
	// top-level lib/ is refused.
	layer := t.TempDir()
	os.MkdirAll(filepath.Join(layer, stage1.HeadersDir("6.1.0-rktbuild-v1"), "include"), 0o755)
	if err := stage1.CheckLayout(root, layer); err != nil {
		t.Errorf("the kernel layer does not fit the from-source stage1: %v", err)
	}
	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "lib", "modules"), 0o755)
	if err := stage1.CheckLayout(root, old); err == nil || !strings.Contains(err.Error(), "/lib (upstream: /lib -> usr/lib)") {
		t.Errorf("a real /lib over lib -> usr/lib: %v", err)
	}
}

// TestAssembleMissingParts: a missing program or firmware is an error
// naming it.
func TestAssembleMissingParts(t *testing.T) {
	tests := []struct {
		name   string
		remove func(o AssembleOptions) string
		err    string
	}{
		{"program", func(o AssembleOptions) string { return filepath.Join(o.Programs, "stop_kvm") }, "rkt's stage1 program stop_kvm"},
		{"plugin", func(o AssembleOptions) string { return filepath.Join(o.Programs, "plugins", "ptp") }, "CNI plugin ptp"},
		{"firmware", func(o AssembleOptions) string { return filepath.Join(o.Staging, "usr/share/seabios/kvmvapic.bin") }, "firmware kvmvapic.bin"},
		{"pick", func(o AssembleOptions) string { return filepath.Join(o.Staging, "usr/sbin/sshd") }, "/usr/sbin/sshd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := assembleFixture(t)
			if err := os.Remove(tc.remove(o)); err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			if err := Assemble(root, o); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}
