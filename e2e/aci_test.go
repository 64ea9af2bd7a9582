//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"

	"golang.org/x/sys/unix"

	"github.com/rktbuild/rktbuild/format/aci"
)

// TestACIDebootstrap packs a real Debian rootfs (debootstrap --variant=
// minbase bookworm, device nodes included) and checks what the unit tests
// check on a generated tree, at full size: two packs with an epoch are
// byte-identical, the image ID is the sha512 of the uncompressed tar,
// actool validate accepts the file, and extraction gives back every file
// with its type, mode, owner, content, device numbers, link target, hardlink
// identity and capability xattr.
//
// Set ACI_E2E_ROOTFS=DIR to use an existing rootfs instead of running
// debootstrap. Run: go test -tags e2e -run ACIDebootstrap -v ./e2e/
func TestACIDebootstrap(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: debootstrap, device nodes and owners")
	}
	t.Parallel() // independent of every other test's files
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	work := t.TempDir()
	rootfs := os.Getenv("ACI_E2E_ROOTFS")
	if rootfs == "" {
		// mmdebstrap (the default builder where installed) is several
		// times faster than debootstrap; either gives a real rootfs.
		builder := "mmdebstrap"
		if _, err := exec.LookPath(builder); err != nil {
			builder = "debootstrap"
		}
		if _, err := exec.LookPath(builder); err != nil {
			testenv.Skip(t, "needs mmdebstrap or debootstrap (apt-get install mmdebstrap debootstrap)")
		}
		rootfs = filepath.Join(work, "rootfs")
		// No mirror given: the builder uses its own default or the
		// machine's configuration.
		cmd := exec.CommandContext(ctx, builder, "--variant=minbase", "bookworm", rootfs)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", builder, err, testutil.TailBytes(out, 3000))
		}
	}
	// A capability on a real binary, as Debian's postinst would set it.
	ping := filepath.Join(rootfs, "usr/bin/ping-cap-test")
	if err := os.WriteFile(ping, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(ping)
	capV2 := []byte{1, 0, 0, 2, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Lsetxattr(ping, aci.CapabilityXattr, capV2, 0); err != nil {
		t.Fatalf("setting %s: %v", aci.CapabilityXattr, err)
	}
	m, err := aci.NewManifest("rktbuild.example/e2e/bookworm", map[string]string{"version": "12"})
	if err != nil {
		t.Fatal(err)
	}
	opts := aci.PackOptions{Epoch: 1700000000, HasEpoch: true}
	out1 := filepath.Join(work, "one.aci")
	out2 := filepath.Join(work, "two.aci")
	start := time.Now()
	id1, err := aci.PackRootfs(ctx, m, rootfs, out1, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("packed %s in %v: %s", rootfs, time.Since(start).Round(time.Millisecond), id1)
	id2, err := aci.PackRootfs(ctx, m, rootfs, out2, opts)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(out1)
	b2, _ := os.ReadFile(out2)
	if id1 != id2 || !bytes.Equal(b1, b2) {
		t.Errorf("two packs of the same tree with SOURCE_DATE_EPOCH differ (ids %s, %s)", id1, id2)
	}
	if id, err := aci.ImageID(out1); err != nil || id != id1 {
		t.Errorf("ImageID = %s, %v; Pack said %s", id, err, id1)
	}
	if err := aci.Validate(out1); err != nil {
		t.Error(err)
	}
	actool := filepath.Join(work, "actool")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", actool, "github.com/appc/spec/actool").CombinedOutput(); err != nil {
		t.Fatalf("building actool from the pinned appc/spec module: %v\n%s", err, b)
	}
	if b, err := exec.CommandContext(ctx, actool, "validate", out1).CombinedOutput(); err != nil {
		t.Errorf("actool validate rejects our archive: %v\n%s", err, b)
	}
	dst := filepath.Join(work, "extracted")
	if err := aci.Extract(ctx, out1, dst); err != nil {
		t.Fatal(err)
	}
	want, wantIno := describeTree(t, rootfs)
	got, gotIno := describeTree(t, filepath.Join(dst, "rootfs"))
	if len(want) != len(got) {
		t.Errorf("%d entries extracted, want %d", len(got), len(want))
	}
	devices := 0
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing after extraction", p)
			continue
		}
		if w.typ == unix.S_IFCHR || w.typ == unix.S_IFBLK {
			devices++
		}
		if w.mtime > opts.Epoch {
			w.mtime = opts.Epoch
		}
		if w != g {
			t.Errorf("%s: extracted %+v, want %+v", p, g, w)
		}
	}
	if devices == 0 {
		t.Log("note: this rootfs has no device nodes")
	}
	if got["usr/bin/ping-cap-test"].xattr != string(capV2) {
		t.Errorf("the capability xattr did not survive")
	}
	// Hardlinks stay hardlinks.
	groups := map[uint64][]string{}
	for p, ino := range wantIno {
		groups[ino] = append(groups[ino], p)
	}
	linked := 0
	for _, group := range groups {
		for _, p := range group[1:] {
			linked++
			if gotIno[p] != gotIno[group[0]] {
				t.Errorf("%s and %s are no longer the same inode", p, group[0])
			}
		}
	}
	t.Logf("%d entries, %d device nodes, %d extra hardlinks compared", len(want), devices, linked)
}

type treeEntry struct {
	typ, mode, uid, gid uint32
	size, mtime         int64
	rdev                uint64
	link, sum, xattr    string
}

// describeTree returns every entry under root, and the inode of each
// non-directory with more than one link (hardlink groups).
func describeTree(t *testing.T, root string) (map[string]treeEntry, map[string]uint64) {
	t.Helper()
	out := map[string]treeEntry{}
	inos := map[string]uint64{}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := treeEntry{typ: st.Mode & unix.S_IFMT, mode: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid, mtime: st.Mtim.Sec, rdev: st.Rdev}
		switch e.typ {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			e.sum, e.size = hex.EncodeToString(h[:]), st.Size
			buf := make([]byte, 256)
			if n, err := unix.Lgetxattr(p, aci.CapabilityXattr, buf); err == nil {
				e.xattr = string(buf[:n])
			}
		case unix.S_IFLNK:
			e.link, _ = os.Readlink(p)
		}
		if e.typ == unix.S_IFLNK {
			e.mode = 0
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = e
		if e.typ != unix.S_IFDIR && st.Nlink > 1 {
			inos[rel] = st.Ino
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, inos
}
