package aci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/say"
	"golang.org/x/sys/unix"
)

// needRoot skips a test that needs root, or fails it under CI=true, where
// the suite runs as root and a skip would hide a regression.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root (%s), and CI=true runs the suite as root", why)
	}
	t.Skipf("needs root: %s", why)
}

// A hostile archive sets overlayfs and SELinux attributes beside a file
// capability: only the capability may reach the extracted tree, and the
// rest is reported by name.
func TestExtractXattrAllowlist(t *testing.T) {
	needRoot(t, "restoring extended attributes in trusted.* and security.* needs CAP_SYS_ADMIN")
	// A file capability blob: cap_net_bind_service=ep, version 2.
	capBlob := string([]byte{0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	xattrs := map[string]string{
		paxXattr + CapabilityXattr:            capBlob,
		paxXattr + "trusted.overlay.opaque":   "y",
		paxXattr + "trusted.overlay.redirect": "/etc",
		paxXattr + "security.selinux":         "system_u:object_r:shadow_t:s0",
		paxXattr + "user.overlay.opaque":      "y",
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(testEpoch, 0)
	must(t, tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(okManifest)), ModTime: mtime}))
	_, err := tw.Write([]byte(okManifest))
	must(t, err)
	must(t, tw.WriteHeader(&tar.Header{Name: "rootfs", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}))
	must(t, tw.WriteHeader(&tar.Header{Name: "rootfs/opaque", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, PAXRecords: map[string]string{paxXattr + "trusted.overlay.opaque": "y"}}))
	must(t, tw.WriteHeader(&tar.Header{Name: "rootfs/ping", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2, ModTime: mtime, PAXRecords: xattrs}))
	_, err = tw.Write([]byte("hi"))
	must(t, err)
	must(t, tw.Close())
	tmp := t.TempDir()
	file := filepath.Join(tmp, "hostile.aci")
	must(t, os.WriteFile(file, buf.Bytes(), 0o644))

	var out bytes.Buffer
	dir := filepath.Join(tmp, "out")
	if err := Extract(say.WithWriter(context.Background(), &out), file, dir); err != nil {
		t.Fatal(err)
	}
	ping := filepath.Join(dir, "rootfs", "ping")
	got := make([]byte, 64)
	n, err := unix.Lgetxattr(ping, CapabilityXattr, got)
	if err != nil || string(got[:n]) != capBlob {
		t.Errorf("%s on %s = %q, %v; want the archived capability", CapabilityXattr, ping, got[:max(n, 0)], err)
	}
	for _, p := range []string{ping, filepath.Join(dir, "rootfs", "opaque")} {
		sz, err := unix.Llistxattr(p, got)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range strings.Split(strings.Trim(string(got[:sz]), "\x00"), "\x00") {
			if name != "" && name != CapabilityXattr {
				t.Errorf("%s carries %s, which is not on the allowlist", p, name)
			}
		}
	}
	msg := out.String()
	for _, want := range []string{"trusted.overlay.opaque (2 entries)", "trusted.overlay.redirect (1 entries)", "security.selinux (1 entries)", "user.overlay.opaque (1 entries)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report %q does not name the skipped %s", msg, want)
		}
	}
}

// writeSparseTar writes an uncompressed ACI whose rootfs/big entry holds
// size zero bytes without using the disk space (the data is a hole).
func writeSparseTar(t *testing.T, file string, size int64) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(testEpoch, 0)
	must(t, tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(okManifest)), ModTime: mtime}))
	_, err := tw.Write([]byte(okManifest))
	must(t, err)
	must(t, tw.WriteHeader(&tar.Header{Name: "rootfs", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}))
	must(t, tw.WriteHeader(&tar.Header{Name: "rootfs/big", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mtime}))
	// Not closing tw: the data and end blocks are the zeros of the hole.
	must(t, os.WriteFile(file, buf.Bytes(), 0o644))
	must(t, os.Truncate(file, int64(buf.Len())+size+1024))
}

// Cancelling inside one multi-GiB entry stops extraction within a second,
// leaves neither the output nor a temporary tree, and a rerun works.
func TestExtractCancelInsideLargeEntry(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "big.aci")
	writeSparseTar(t, file, 4<<30)
	dir := filepath.Join(tmp, "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Extract(ctx, file, dir) }()
	// Wait until the big entry is being written (a condition, not a timer).
	var written string
	for deadline := time.Now().Add(60 * time.Second); written == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(tmp, ".out.tmp-*", "rootfs", "big"))
		for _, p := range m {
			if fi, err := os.Stat(p); err == nil && fi.Size() >= 32<<20 {
				written = p
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("extraction ended before the cancel: %v", err)
		default:
		}
	}
	if written == "" {
		t.Fatal("extraction never reached 32 MiB of rootfs/big")
	}
	cancel()
	start := time.Now()
	err := <-errc
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract = %v, want a cancellation", err)
	}
	if took > time.Second {
		t.Errorf("Extract took %s to stop after the cancel, want under a second", took)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, ".out*"))
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) || len(left) > 0 {
		t.Errorf("cancelled extraction left output %v / temporaries %v", err, left)
	}
	small := filepath.Join(tmp, "small.aci")
	writeSparseTar(t, small, 1<<20)
	if err := Extract(context.Background(), small, dir); err != nil {
		t.Fatalf("rerun: %v", err)
	}
}

// progressCancel cancels once n uncompressed bytes were packed.
type progressCancel struct {
	n      int64
	cancel context.CancelFunc
	at     chan time.Time
}

func (p *progressCancel) Write(b []byte) (int, error) {
	p.n -= int64(len(b))
	if p.n <= 0 && p.cancel != nil {
		p.cancel()
		p.cancel = nil
		p.at <- time.Now()
	}
	return len(b), nil
}

// Cancelling inside one multi-GiB file stops Pack within a second and
// leaves no temporary.
func TestPackCancelInsideLargeEntry(t *testing.T) {
	root := t.TempDir()
	rootfs := filepath.Join(root, "rootfs")
	must(t, os.MkdirAll(rootfs, 0o755))
	f, err := os.Create(filepath.Join(rootfs, "big"))
	must(t, err)
	must(t, f.Truncate(4<<30))
	must(t, f.Close())
	must(t, os.WriteFile(filepath.Join(root, "manifest"), []byte(okManifest), 0o644))
	outDir := t.TempDir()
	out := filepath.Join(outDir, "big.aci")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc := &progressCancel{n: 64 << 20, cancel: cancel, at: make(chan time.Time, 1)}
	_, err = Pack(ctx, root, out, PackOptions{Progress: pc})
	end := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Pack = %v, want a cancellation", err)
	}
	select {
	case at := <-pc.at:
		if took := end.Sub(at); took > time.Second {
			t.Errorf("Pack took %s to stop after the cancel, want under a second", took)
		}
	default:
		t.Fatal("Pack never reached 64 MiB")
	}
	left, _ := filepath.Glob(filepath.Join(outDir, "*"))
	left2, _ := filepath.Glob(filepath.Join(outDir, ".*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("cancelled pack left %v %v", left, left2)
	}
}
