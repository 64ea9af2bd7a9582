package aci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// isRoot reports whether the test can create device nodes, chown and set
// security.capability.
func isRoot() bool { return os.Geteuid() == 0 }

// capV2 is a valid VFS_CAP_REVISION_2 security.capability value granting
// cap_net_bind_service (bit 10), permitted and effective.
var capV2 = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}

// fixtureTime is the mtime given to every fixture file (later than the
// epochs the tests clamp to).
var fixtureTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// makeTree creates an ACI layout (manifest + rootfs) at dir with every kind
// of entry: nested directories, regular files (empty, small, larger than
// the read-ahead limit), a sticky directory, setuid/setgid files, relative
// and absolute symlinks, a hardlink pair, a FIFO, and, as root, a character
// device, a block device, a file owned by another uid/gid and a file with
// security.capability.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	mk := func(rel string, perm uint32) {
		if err := os.MkdirAll(filepath.Join(rootfs, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(filepath.Join(rootfs, rel), perm); err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, data []byte, perm uint32) {
		p := filepath.Join(rootfs, rel)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
	}
	mk("", 0o755)
	mk("bin", 0o755)
	mk("etc/deep/er", 0o755)
	mk("tmp", 0o1777)
	mk("usr/lib", 0o755)
	mk("dev", 0o755)
	write("etc/hostname", []byte("fixture\n"), 0o644)
	write("etc/empty", nil, 0o600)
	write("etc/deep/er/file", []byte("deep"), 0o640)
	write("bin/su", []byte("#!/bin/sh\necho su\n"), 0o4755)
	write("bin/wall", []byte("#!/bin/sh\necho wall\n"), 0o2755)
	big := make([]byte, smallFile+12345)
	for i := range big {
		big[i] = byte(i * 7 / 13)
	}
	write("usr/lib/big.bin", big, 0o644)
	write("usr/lib/libc.so.6", []byte("not really libc"), 0o755)
	must(t, os.Symlink("libc.so.6", filepath.Join(rootfs, "usr/lib/libc.so")))
	must(t, os.Symlink("/usr/lib/libc.so.6", filepath.Join(rootfs, "bin/abs-link")))
	must(t, os.Symlink("usr/lib", filepath.Join(rootfs, "lib")))
	must(t, os.Link(filepath.Join(rootfs, "bin/su"), filepath.Join(rootfs, "usr/lib/su-hardlink")))
	must(t, unix.Mkfifo(filepath.Join(rootfs, "dev/initctl"), 0o600))
	if isRoot() {
		must(t, unix.Mknod(filepath.Join(rootfs, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(t, unix.Mknod(filepath.Join(rootfs, "dev/loop0"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 0))))
		write("etc/owned", []byte("uid 1234"), 0o644)
		must(t, os.Lchown(filepath.Join(rootfs, "etc/owned"), 1234, 4321))
		write("bin/ping", []byte("#!/bin/sh\necho ping\n"), 0o755)
		if err := unix.Lsetxattr(filepath.Join(rootfs, "bin/ping"), CapabilityXattr, capV2, 0); err != nil {
			t.Fatalf("setting %s (needs a filesystem with xattrs): %v", CapabilityXattr, err)
		}
	}
	// A setgid directory and a read-only directory with content.
	mk("var/local", 0o2775)
	mk("usr/ro", 0o755)
	write("usr/ro/file", []byte("inside a read-only dir"), 0o444)
	must(t, unix.Chmod(filepath.Join(rootfs, "usr/ro"), 0o555))
	writableOnCleanup(t, dir)
	m, err := NewManifest("example.com/fixture", map[string]string{"version": "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "manifest"), b, 0o644))
	// Fixed mtimes, deepest first so directory times stick.
	var paths []string
	filepath.Walk(rootfs, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.NsecToTimespec(fixtureTime.UnixNano()), unix.NsecToTimespec(fixtureTime.UnixNano())}
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// writableOnCleanup makes the directories under dir writable again before
// the test's temporary directories are removed (a non-root user cannot
// delete files in the fixture's read-only directory).
func writableOnCleanup(t testing.TB, dir string) {
	t.Cleanup(func() {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	actoolOnce sync.Once
	actoolPath string
	actoolErr  error
)

// actool builds the reference validator from the pinned appc/spec module
// once per test binary.
func actool(t testing.TB) string {
	t.Helper()
	actoolOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aci-actool-")
		if err != nil {
			actoolErr = err
			return
		}
		actoolPath = filepath.Join(dir, "actool")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", actoolPath, "github.com/appc/spec/actool").CombinedOutput()
		if err != nil {
			actoolErr = err
			actoolPath = string(out)
		}
	})
	if actoolErr != nil && os.Getenv("CI") == "true" {
		t.Fatalf("needs actool for the cross-validation (CI=true: a build failure is a failure, not a skip): building github.com/appc/spec/actool failed: %v: %s", actoolErr, actoolPath)
	}
	if actoolErr != nil {
		t.Skipf("needs actool: building github.com/appc/spec/actool failed: %v: %s", actoolErr, actoolPath)
	}
	return actoolPath
}
