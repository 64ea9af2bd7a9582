package upstream

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/stage1"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", "stage1", name)
	testutil.Golden(t, p, got)
}

func TestManifest(t *testing.T) {
	m, err := Manifest(stage1.RktVersion{Major: 1, Minor: 30, Patch: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := stage1.CheckUpstream(m, stage1.RktVersion{Major: 1, Minor: 30, Patch: 0}); err != nil {
		t.Errorf("buildStage1 would refuse the from-source manifest: %v", err)
	}
	b, err := aci.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "upstream-manifest.json", append(b, '\n'))
}

func TestSystemdVersion(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"252.39-1~deb12u2", "v252", ""},
		{"1:257.8-1", "v257", ""},
		{"233", "v233", ""},
		{"", "", "expected MAJOR"},
		{"git-1", "", "expected MAJOR"},
	}
	for _, tc := range tests {
		got, err := SystemdVersion(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := map[string]string{
		"/lib/x86_64-linux-gnu/libc.so.6": "usr/lib/x86_64-linux-gnu/libc.so.6",
		"lib64/ld-linux-x86-64.so.2":      "usr/lib64/ld-linux-x86-64.so.2",
		"/bin/bash":                       "usr/bin/bash",
		"sbin":                            "usr/sbin",
		"usr/bin/ip":                      "usr/bin/ip",
		"library/x":                       "library/x",
		"/etc/../lib/systemd/systemd":     "usr/lib/systemd/systemd",
	}
	for in, want := range tests {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckAccel(t *testing.T) {
	for _, a := range []string{"auto", "kvm", "tcg"} {
		if err := CheckAccel(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if err := CheckAccel("fast"); err == nil || !strings.Contains(err.Error(), "S1B_STAGE1_QEMU_ACCEL") {
		t.Errorf("fast: %v", err)
	}
}

// TestCopierFollowsLibraries builds a real program linked against a real
// shared library, lays them out like unpacked Debian packages (unmerged
// /lib, an absolute loader link) and checks that Copier brings the
// program, its library chain and the loader into a rootfs with links that
// resolve inside it, and names a missing library.
func TestCopierFollowsLibraries(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gcc is missing (package gcc)")
		}
		t.Skip("needs gcc to build a test program and library")
	}
	work := t.TempDir()
	staging := filepath.Join(work, "staging")
	libdir := filepath.Join(staging, "lib", "x86_64-linux-gnu")
	bindir := filepath.Join(staging, "usr", "bin")
	for _, d := range []string{libdir, bindir, filepath.Join(staging, "lib64")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(work, "hello.c")
	lsrc := filepath.Join(work, "greet.c")
	os.WriteFile(lsrc, []byte("int greet(void){return 42;}\n"), 0o644)
	os.WriteFile(src, []byte("int greet(void);\nint main(void){return greet()==42?0:1;}\n"), 0o644)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("gcc", "-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o", filepath.Join(libdir, "libgreet.so.1.0"), lsrc)
	os.Symlink("libgreet.so.1.0", filepath.Join(libdir, "libgreet.so.1"))
	run("gcc", "-o", filepath.Join(bindir, "hello"), src, "-L"+work, filepath.Join(libdir, "libgreet.so.1.0"))
	// The C library and loader, as Debian ships them: an absolute link.
	for _, l := range []string{"libc.so.6", "ld-linux-x86-64.so.2"} {
		data, err := os.ReadFile(filepath.Join("/lib/x86_64-linux-gnu", l))
		if err != nil {
			t.Skipf("needs the host's %s: %v", l, err)
		}
		os.WriteFile(filepath.Join(libdir, l), data, 0o755)
	}
	os.Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(staging, "lib64", "ld-linux-x86-64.so.2"))
	if err := MergeUsr(staging); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(staging, "lib")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("MergeUsr left /lib a directory: %v", err)
	}

	rootfs := filepath.Join(work, "rootfs")
	c := &Copier{From: staging, To: rootfs}
	picks, err := ExpandPicks(staging, []string{"usr/bin/hello", "usr/lib64/ld-linux-x86-64.so.2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range picks {
		if err := c.Copy(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"usr/bin/hello", "usr/lib/x86_64-linux-gnu/libgreet.so.1.0", "usr/lib/x86_64-linux-gnu/libc.so.6"} {
		if fi, err := os.Lstat(filepath.Join(rootfs, f)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s not copied as a file: %v", f, err)
		}
	}
	link, err := os.Readlink(filepath.Join(rootfs, "usr/lib64/ld-linux-x86-64.so.2"))
	if err != nil || link != "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" {
		t.Errorf("loader link %q %v: want a relative link inside the rootfs", link, err)
	}
	// The copied program runs with the rootfs's loader and libraries only.
	out, err := exec.Command(filepath.Join(rootfs, "usr/lib64/ld-linux-x86-64.so.2"), "--library-path",
		filepath.Join(rootfs, "usr/lib/x86_64-linux-gnu"), filepath.Join(rootfs, "usr/bin/hello")).CombinedOutput()
	if err != nil {
		t.Errorf("the copied program does not run from the rootfs: %v %s", err, out)
	}

	// A library no package holds is named in the error.
	os.Remove(filepath.Join(staging, "usr/lib/x86_64-linux-gnu/libgreet.so.1"))
	err = (&Copier{From: staging, To: filepath.Join(work, "rootfs2")}).Copy("usr/bin/hello")
	if err == nil || !strings.Contains(err.Error(), "library libgreet.so.1 needed by /usr/bin/hello") {
		t.Errorf("missing library: %v", err)
	}
	if _, err := ExpandPicks(staging, []string{"usr/bin/nothere"}); err == nil || !strings.Contains(err.Error(), "/usr/bin/nothere") {
		t.Errorf("missing pick: %v", err)
	}
}

func TestDebName(t *testing.T) {
	tests := []struct{ file, name, version string }{
		{"qemu-system-x86_1%3a7.2+dfsg-7+deb12u18+b3_amd64.deb", "qemu-system-x86", "1:7.2+dfsg-7+deb12u18+b3"},
		{"libc6_2.36-9+deb12u10_amd64.deb", "libc6", "2.36-9+deb12u10"},
	}
	for _, tc := range tests {
		n, v, ok := debName(tc.file)
		if !ok || n != tc.name || v != tc.version {
			t.Errorf("%s: %q %q %v", tc.file, n, v, ok)
		}
	}
	if _, _, ok := debName("notadeb.deb"); ok {
		t.Error("notadeb.deb parsed")
	}
}
