//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/nspawn/static"
	"github.com/rktbuild/rktbuild/step"
)

// nspawnArgs runs cmd in the container at root the way the runner does
// when there is no systemd as PID 1.
func nspawnArgs(root string, cmd ...string) []string {
	return append([]string{"--quiet", "--register=no", "--keep-unit", "--link-journal=no",
		"--console=pipe", "--resolv-conf=off", "--timezone=off", "-D", root, "--"}, cmd...)
}

// TestStaticNspawn builds the static systemd-nspawn from bookworm's systemd
// source with `mage nspawn:build` into a fresh build directory, checks that
// it is static (file, ldd, ELF), runs --version, rebuilds as a no-op, and
// runs a command in a minbase bookworm rootfs both from the host and from
// inside a chroot of a rootfs with no systemd libraries at all (where the
// distribution's dynamic nspawn fails to start: the original bug).
//
// NSPAWN_E2E_BUILD_DIR=DIR reuses a build directory (incremental);
// NSPAWN_E2E_ROOTFS=DIR reuses a minbase bookworm rootfs instead of running
// debootstrap. Run: go test -tags e2e -timeout 60m -run StaticNspawn -v ./e2e/
func TestStaticNspawn(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: installs build dependencies, debootstrap, mounts, chroot, systemd-nspawn")
	}
	for _, tool := range []string{"apt-get", "debootstrap", "unshare", "chroot", "mount", "file", "ldd", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s (apt-get install debootstrap file util-linux libc-bin)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	buildDir := os.Getenv("NSPAWN_E2E_BUILD_DIR")
	if buildDir == "" {
		buildDir = filepath.Join(tmp, "build")
	}
	env := []string{
		"S1B_BUILD_DIR=" + buildDir,
		"CACHE_DIR=" + filepath.Join(tmp, "cache"),
		"NSPAWN_RELEASE=bookworm",
		"NSPAWN_BUILD_IN=host",
		"S1B_JOBS=2",
	}

	// 1. The build.
	out, took, err := runMage(ctx, env, "nspawn:build")
	if err != nil {
		t.Fatalf("nspawn:build failed after %s: %v\n%s", took, err, testutil.Tail(out, 60))
	}
	t.Logf("nspawn:build took %s:\n%s", took.Round(time.Second), testutil.Tail(out, 10))
	bin := filepath.Join(buildDir, "nspawn", "systemd-nspawn")
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("no binary: %v", err)
	}
	t.Logf("binary %s: %d bytes", bin, fi.Size())

	// 2. Static, by every account.
	if b, err := exec.Command("file", bin).CombinedOutput(); err != nil || !strings.Contains(string(b), "statically linked") {
		t.Errorf("file %s: %v: %s", bin, err, b)
	}
	if b, _ := exec.Command("ldd", bin).CombinedOutput(); !strings.Contains(string(b), "not a dynamic executable") {
		t.Errorf("ldd %s: %s", bin, b)
	}
	if err := static.CheckStatic(bin); err != nil {
		t.Error(err)
	}

	// 3. --version: systemd 252 with seccomp and ACL support.
	vb, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v: %s", bin, err, vb)
	}
	ver := string(vb)
	t.Logf("--version:\n%s", ver)
	for _, want := range []string{"systemd 252 (252.", "+rktbuild-static)", "+SECCOMP", "+ACL", "+BLKID"} {
		if !strings.Contains(ver, want) {
			t.Errorf("--version lacks %q:\n%s", want, ver)
		}
	}

	// 4. Nothing changed: nothing is rebuilt, the binary stays.
	out2, took2, err := runMage(ctx, env, "nspawn:build")
	if err != nil {
		t.Fatalf("second nspawn:build: %v\n%s", err, testutil.Tail(out2, 40))
	}
	if strings.Contains(out2, ": ran: ") || !strings.Contains(out2, "nspawn:build: up to date") {
		t.Errorf("second nspawn:build was not a no-op (%s):\n%s", took2, testutil.Tail(out2, 20))
	}
	if fi2, err := os.Stat(bin); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("the no-op rebuild rewrote %s", bin)
	}

	// 5. A minbase bookworm rootfs.
	rootfs := os.Getenv("NSPAWN_E2E_ROOTFS")
	if rootfs == "" {
		rootfs = filepath.Join(tmp, "rootfs")
		if b, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "bookworm", rootfs).CombinedOutput(); err != nil {
			t.Fatalf("debootstrap: %v\n%s", err, testutil.Tail(string(b), 20))
		}
	}
	const script = `echo "in-container pid=$$ debian=$(cat /etc/debian_version)"`
	want := "in-container pid=1 debian=12."

	// 6. From the host.
	b, err := exec.CommandContext(ctx, bin, nspawnArgs(rootfs, "/bin/sh", "-c", script)...).CombinedOutput()
	if err != nil || !strings.Contains(string(b), want) {
		t.Errorf("static nspawn from the host: %v\n%s", err, b)
	} else {
		t.Logf("from the host: %s", strings.TrimSpace(string(b)))
	}

	// The runner that image builds and `mage run` use picks this binary.
	r, err := nspawn.Find(buildDir)
	if err != nil || r.Origin != "static build" {
		t.Errorf("nspawn.Find(%s) = %v, %v; want the static build", buildDir, r, err)
	} else {
		var rb bytes.Buffer
		err := r.Run(ctx, nspawn.Options{Root: rootfs, Args: []string{"/bin/sh", "-c", script}, ResolvConf: "off", Stdout: &rb})
		if err != nil || !strings.Contains(rb.String(), "debian=12.") {
			t.Errorf("runner with %s: %v\n%s", r, err, rb.String())
		}
	}

	// 7. From inside a chroot of a rootfs without any systemd library.
	outer := filepath.Join(tmp, "outer")
	if b, err := exec.CommandContext(ctx, "cp", "-a", rootfs, outer).CombinedOutput(); err != nil {
		t.Fatalf("copying the rootfs: %v: %s", err, b)
	}
	var left []string
	_ = filepath.WalkDir(outer, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		n := d.Name()
		if strings.HasPrefix(n, "libsystemd") || strings.HasPrefix(n, "libudev") {
			if strings.Contains(n, ".so") {
				if err := os.Remove(p); err != nil {
					left = append(left, p)
				}
			}
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("could not remove %v", left)
	}
	if m, _ := filepath.Glob(filepath.Join(outer, "usr/lib/*/libsystemd*.so*")); len(m) > 0 {
		t.Fatalf("systemd libraries left in the chroot: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(outer, "usr/lib/*/systemd/libsystemd-shared*")); len(m) > 0 {
		t.Fatalf("libsystemd-shared in the chroot: %v", m)
	}
	for _, d := range []string{"srv/container"} {
		if err := os.MkdirAll(filepath.Join(outer, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileBytes(filepath.Join(outer, "usr/local/bin/systemd-nspawn"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The distribution's nspawn, when the host has one, shows the original
	// failure in the same chroot.
	hostNspawn, _ := exec.LookPath("systemd-nspawn")
	if hostNspawn != "" {
		hd, err := os.ReadFile(hostNspawn)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outer, "usr/local/bin/systemd-nspawn.distro"), hd, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inner := strings.Join(append([]string{"/usr/local/bin/systemd-nspawn"}, quoteAll(nspawnArgs("/srv/container", "/bin/sh", "-c", script))...), " ")
	// The chroot's root must be a mount point, with /proc, /sys and /dev
	// mounted; everything happens in a private mount namespace that
	// disappears with the shell.
	sh := `set -e
O="$1"; R="$2"
mount --bind "$O" "$O"
mount --bind "$R" "$O/srv/container"
mount -t proc proc "$O/proc"
mount --rbind /sys "$O/sys"
mount --rbind /dev "$O/dev"
mount -t tmpfs tmpfs "$O/run"
mount -t tmpfs tmpfs "$O/tmp"
if [ -x "$O/usr/local/bin/systemd-nspawn.distro" ]; then
  echo "distro nspawn: $(chroot "$O" /usr/local/bin/systemd-nspawn.distro --version 2>&1 | head -1)"
fi
chroot "$O" ` + inner + `
`
	b, err = exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", sh, "sh", outer, rootfs).CombinedOutput()
	got := string(b)
	t.Logf("in the chroot:\n%s", got)
	if err != nil || !strings.Contains(got, want) {
		t.Errorf("static nspawn inside a chroot without systemd libraries: %v\n%s", err, got)
	}
	if hostNspawn != "" && !strings.Contains(got, "libsystemd-shared") {
		t.Errorf("expected the distribution's dynamic nspawn to fail for lack of libsystemd-shared in the chroot:\n%s", got)
	}
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// TestStaticNspawnErrors checks the failure modes that need the real apt:
// a release the host's mirrors do not carry, and a patch that does not
// apply to the fetched source. Run: go test -tags e2e -run StaticNspawnErrors ./e2e/
func TestStaticNspawnErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: may install build dependencies")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		testenv.Skip(t, "needs apt-get")
	}
	ctx, cancel := context.WithTimeout(step.WithStampDir(context.Background(), filepath.Join(t.TempDir(), "stamps")), 10*time.Minute)
	defer cancel()
	o := static.Options{
		Release:  "rktbuild-no-such-release",
		Dir:      filepath.Join(t.TempDir(), "nspawn"),
		PatchDir: filepath.Join("..", "nspawn", "patches"),
		Jobs:     1,
	}
	_, err := static.Build(ctx, o)
	if err == nil || !strings.Contains(err.Error(), `release "rktbuild-no-such-release"`) || !strings.Contains(err.Error(), "NSPAWN_RELEASE") {
		t.Errorf("unknown release: %v", err)
	}
	if _, err := os.Stat(o.Binary()); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s", o.Binary())
	}

	// A release the mirrors carry, but a source package they do not.
	host, err := static.HostSources("/etc/apt/sources.list", "/etc/apt/sources.list.d")
	if err != nil {
		t.Fatal(err)
	}
	codename, err := static.HostCodename("/etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	if src, err := static.DeriveSources(host, codename, codename); err != nil {
		testenv.Missing(t, "cannot derive deb-src lines from this host's apt sources, so the missing-source-package case does not run: ", err)
	} else {
		apt := static.Apt{Dir: t.TempDir()}
		if err := apt.Setup(src); err != nil {
			t.Fatal(err)
		}
		if err := apt.Update(ctx, codename); err != nil {
			t.Fatal(err)
		}
		v, _, err := apt.SourceVersion(ctx, "systemd", codename)
		if err != nil || v == "" {
			t.Errorf("systemd source version for %s: %q, %v", codename, v, err)
		}
		_, _, err = apt.SourceVersion(ctx, "rktbuild-no-such-source", codename)
		if err == nil || !strings.Contains(err.Error(), "no source package rktbuild-no-such-source for release") {
			t.Errorf("missing source package: %v", err)
		}
	}

	o.Release = "rktbuild"
	o.BuildIn = "chroot"
	if _, err := static.Build(ctx, o); err == nil || !strings.Contains(err.Error(), "NSPAWN_BUILD_IN") {
		t.Errorf("bad NSPAWN_BUILD_IN: %v", err)
	}
}

// TestStaticNspawnInRootfs builds with NSPAWN_BUILD_IN=rootfs: the compilers
// and libraries come from a debootstrapped bookworm build root (the host
// only fetches and patches the sources), and the result must be the same
// kind of static binary. Run: go test -tags e2e -timeout 60m -run StaticNspawnInRootfs -v ./e2e/
func TestStaticNspawnInRootfs(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: debootstrap, mounts, chroot")
	}
	for _, tool := range []string{"apt-get", "debootstrap", "unshare", "chroot", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	buildDir := filepath.Join(tmp, "build")
	env := []string{
		"S1B_BUILD_DIR=" + buildDir,
		"CACHE_DIR=" + filepath.Join(tmp, "cache"),
		"NSPAWN_RELEASE=bookworm",
		"NSPAWN_BUILD_IN=rootfs",
		"S1B_JOBS=2",
	}
	out, took, err := runMage(ctx, env, "nspawn:build")
	if err != nil {
		t.Fatalf("nspawn:build in a rootfs failed after %s: %v\n%s", took, err, testutil.Tail(out, 60))
	}
	t.Logf("nspawn:build (rootfs) took %s:\n%s", took.Round(time.Second), testutil.Tail(out, 10))
	if !strings.Contains(out, "nspawn:buildroot: ran") {
		t.Errorf("no build root was made:\n%s", testutil.Tail(out, 20))
	}
	bin := filepath.Join(buildDir, "nspawn", "systemd-nspawn")
	if err := static.CheckStatic(bin); err != nil {
		t.Fatal(err)
	}
	vb, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(vb), "+SECCOMP") || !strings.Contains(string(vb), "+ACL") {
		t.Errorf("%s --version: %v\n%s", bin, err, vb)
	}
	// No mount is left behind in the build root.
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mounts), buildDir) {
		t.Errorf("mounts under %s left behind", buildDir)
	}
}
