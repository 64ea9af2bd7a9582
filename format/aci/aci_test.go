package aci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"
)

const testEpoch = 1600000000 // earlier than fixtureTime

// tarEntry is one archive member as read back.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readEntries(t *testing.T, file string) []tarEntry {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	must(t, err)
	tr := tar.NewReader(zr)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, tarEntry{hdr, b})
	}
	return out
}

func packFixture(t *testing.T, opts PackOptions) (dir, out, id string) {
	t.Helper()
	dir = t.TempDir()
	makeTree(t, dir)
	out = filepath.Join(t.TempDir(), "fixture.aci")
	id, err := Pack(context.Background(), dir, out, opts)
	must(t, err)
	return dir, out, id
}

// TestArchiveLayout checks the order and headers of a packed archive:
// manifest, then the explicit rootfs directory, then sorted entries, with
// every entry kind recorded as such.
func TestArchiveLayout(t *testing.T) {
	_, out, _ := packFixture(t, PackOptions{Epoch: testEpoch, HasEpoch: true})
	ents := readEntries(t, out)
	if ents[0].hdr.Name != "manifest" || ents[1].hdr.Name != "rootfs/" || ents[1].hdr.Typeflag != tar.TypeDir {
		t.Fatalf("archive must start with manifest and rootfs/, got %q, %q", ents[0].hdr.Name, ents[1].hdr.Name)
	}
	byName := map[string]*tar.Header{}
	var names []string
	for _, e := range ents[2:] {
		names = append(names, e.hdr.Name)
		byName[strings.TrimSuffix(e.hdr.Name, "/")] = e.hdr
		if e.hdr.ModTime.Unix() != testEpoch {
			t.Errorf("%s: mtime %v not clamped to %d", e.hdr.Name, e.hdr.ModTime, testEpoch)
		}
	}
	// Walk order: every directory's entries in byte order, parents first.
	for i := 1; i < len(names); i++ {
		a, b := strings.TrimSuffix(names[i-1], "/"), strings.TrimSuffix(names[i], "/")
		if !strings.HasPrefix(b, a+"/") && filepath.Dir(a) == filepath.Dir(b) && a > b {
			t.Errorf("entries not sorted: %q before %q", a, b)
		}
	}
	tests := []struct {
		name     string
		typ      byte
		mode     int64
		linkname string
		rootOnly bool
	}{
		{"rootfs/bin/su", tar.TypeReg, 0o4755, "", false},
		{"rootfs/bin/wall", tar.TypeReg, 0o2755, "", false},
		{"rootfs/tmp", tar.TypeDir, 0o1777, "", false},
		{"rootfs/var/local", tar.TypeDir, 0o2775, "", false},
		{"rootfs/usr/ro", tar.TypeDir, 0o555, "", false},
		{"rootfs/etc/empty", tar.TypeReg, 0o600, "", false},
		{"rootfs/usr/lib/libc.so", tar.TypeSymlink, -1, "libc.so.6", false},
		{"rootfs/bin/abs-link", tar.TypeSymlink, -1, "/usr/lib/libc.so.6", false},
		{"rootfs/usr/lib/su-hardlink", tar.TypeLink, -1, "rootfs/bin/su", false},
		{"rootfs/dev/null", tar.TypeChar, -1, "", true},
		{"rootfs/dev/loop0", tar.TypeBlock, -1, "", true},
		{"rootfs/dev/initctl", tar.TypeFifo, 0o600, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rootOnly && !isRoot() {
				testenv.Skip(t, "needs root: the fixture creates device nodes with mknod, which needs root")
			}
			h := byName[tt.name]
			if h == nil {
				t.Fatalf("missing entry %s", tt.name)
			}
			if h.Typeflag != tt.typ {
				t.Errorf("type %q, want %q", h.Typeflag, tt.typ)
			}
			if tt.mode >= 0 && h.Mode != tt.mode {
				t.Errorf("mode %o, want %o", h.Mode, tt.mode)
			}
			if h.Linkname != tt.linkname {
				t.Errorf("linkname %q, want %q", h.Linkname, tt.linkname)
			}
		})
	}
	if isRoot() {
		if h := byName["rootfs/dev/null"]; h.Devmajor != 1 || h.Devminor != 3 {
			t.Errorf("dev/null recorded as %d,%d, want 1,3", h.Devmajor, h.Devminor)
		}
		if h := byName["rootfs/etc/owned"]; h.Uid != 1234 || h.Gid != 4321 {
			t.Errorf("etc/owned uid/gid %d/%d, want 1234/4321 (numeric)", h.Uid, h.Gid)
		}
		if v := byName["rootfs/bin/ping"].PAXRecords["SCHILY.xattr."+CapabilityXattr]; v != string(capV2) {
			t.Errorf("bin/ping: %s not recorded as a PAX xattr record: %x", CapabilityXattr, v)
		}
	}
}

func TestForceRootAndNoEpoch(t *testing.T) {
	if !isRoot() {
		testenv.Skip(t, "needs root: the fixture's non-root owner is created with chown")
	}
	_, out, _ := packFixture(t, PackOptions{ForceRoot: true})
	for _, e := range readEntries(t, out) {
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("%s: uid/gid %d/%d with ForceRoot", e.hdr.Name, e.hdr.Uid, e.hdr.Gid)
		}
		if strings.HasPrefix(e.hdr.Name, "rootfs/") && !e.hdr.ModTime.Equal(fixtureTime) {
			t.Errorf("%s: mtime %v, want the file's own %v without an epoch", e.hdr.Name, e.hdr.ModTime, fixtureTime)
		}
	}
}

// TestDeterministic packs the same tree twice, and a copy of it (other
// inodes, other directory), and wants the same .aci bytes each time.
func TestDeterministic(t *testing.T) {
	opts := PackOptions{Epoch: testEpoch, HasEpoch: true}
	dir, out1, id1 := packFixture(t, opts)
	out2 := filepath.Join(t.TempDir(), "again.aci")
	id2, err := Pack(context.Background(), dir, out2, opts)
	must(t, err)
	copyDir := filepath.Join(t.TempDir(), "copy")
	must(t, Extract(context.Background(), out1, copyDir))
	writableOnCleanup(t, copyDir)
	out3 := filepath.Join(t.TempDir(), "copy.aci")
	id3, err := Pack(context.Background(), copyDir, out3, opts)
	must(t, err)
	b1, _ := os.ReadFile(out1)
	for _, o := range []string{out2, out3} {
		b, _ := os.ReadFile(o)
		if !bytes.Equal(b1, b) {
			t.Errorf("%s differs from %s: packing is not deterministic", o, out1)
		}
	}
	if id1 != id2 || id1 != id3 {
		t.Errorf("image IDs differ: %s %s %s", id1, id2, id3)
	}
	out4 := filepath.Join(t.TempDir(), "other-epoch.aci")
	id4, err := Pack(context.Background(), dir, out4, PackOptions{Epoch: testEpoch + 1, HasEpoch: true})
	must(t, err)
	if id4 == id1 {
		t.Error("a different SOURCE_DATE_EPOCH gave the same image ID")
	}
}

// TestImageID compares the ID computed while packing with the sha512 of the
// archive decompressed by the standard library, and with ImageID.
func TestImageID(t *testing.T) {
	_, out, id := packFixture(t, PackOptions{Epoch: testEpoch, HasEpoch: true})
	f, err := os.Open(out)
	must(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	must(t, err)
	raw, err := io.ReadAll(zr)
	must(t, err)
	sum := sha512.Sum512(raw)
	want := "sha512-" + hex.EncodeToString(sum[:])
	if id != want {
		t.Errorf("Pack returned %s, sha512 of the gunzipped file is %s", id, want)
	}
	got, err := ImageID(out)
	must(t, err)
	if got != want {
		t.Errorf("ImageID = %s, want %s", got, want)
	}
	if len(raw)%512 != 0 || !bytes.Equal(raw[len(raw)-1024:], make([]byte, 1024)) {
		t.Error("uncompressed tar does not end with the two zero blocks")
	}
	// An uncompressed ACI has the same ID and passes validation.
	plain := filepath.Join(t.TempDir(), "plain.aci")
	must(t, os.WriteFile(plain, raw, 0o644))
	if got, err := ImageID(plain); err != nil || got != want {
		t.Errorf("ImageID of the uncompressed tar = %s, %v; want %s", got, err, want)
	}
	must(t, Validate(plain))
	// A truncated file is an error, not a different ID.
	comp, _ := os.ReadFile(out)
	short := filepath.Join(t.TempDir(), "short.aci")
	must(t, os.WriteFile(short, comp[:len(comp)/2], 0o644))
	if _, err := ImageID(short); err == nil {
		t.Error("ImageID of a truncated file succeeded")
	}
	if err := Validate(short); err == nil {
		t.Error("Validate of a truncated file succeeded")
	}
}

type fileInfo struct {
	typ, mode     uint32
	uid, gid      uint32
	size          int64
	mtime         int64
	rdev          uint64
	ino           uint64
	link, content string
	xattr         string
}

func describe(t *testing.T, root string) map[string]fileInfo {
	t.Helper()
	out := map[string]fileInfo{}
	must(t, filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		must(t, unix.Lstat(p, &st))
		fi := fileInfo{typ: st.Mode & unix.S_IFMT, mode: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid,
			mtime: st.Mtim.Sec, rdev: st.Rdev, ino: st.Ino}
		switch fi.typ {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			must(t, err)
			h := sha256.Sum256(b)
			fi.content, fi.size = hex.EncodeToString(h[:]), st.Size
			buf := make([]byte, 256)
			if n, err := unix.Lgetxattr(p, CapabilityXattr, buf); err == nil {
				fi.xattr = string(buf[:n])
			}
		case unix.S_IFLNK:
			fi.link, _ = os.Readlink(p)
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = fi
		return nil
	}))
	return out
}

// TestRoundTrip packs the fixture, extracts it, and wants every file back
// with its type, mode (setuid/setgid/sticky included), content, link
// target, hardlink identity, mtime and, as root, owner, device numbers and
// capability.
func TestRoundTrip(t *testing.T) {
	dir, out, _ := packFixture(t, PackOptions{})
	dst := filepath.Join(t.TempDir(), "x")
	must(t, Extract(context.Background(), out, dst))
	writableOnCleanup(t, dst)
	want, got := describe(t, filepath.Join(dir, "rootfs")), describe(t, filepath.Join(dst, "rootfs"))
	if len(want) != len(got) {
		t.Errorf("%d entries extracted, want %d", len(got), len(want))
	}
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing after extraction", p)
			continue
		}
		if w.typ != g.typ || w.link != g.link || w.content != g.content || w.size != g.size || w.rdev != g.rdev || w.xattr != g.xattr {
			t.Errorf("%s: extracted %+v, want %+v", p, g, w)
		}
		if w.typ != unix.S_IFLNK && w.mode != g.mode {
			t.Errorf("%s: mode %o, want %o", p, g.mode, w.mode)
		}
		if w.mtime != g.mtime {
			t.Errorf("%s: mtime %d, want %d", p, g.mtime, w.mtime)
		}
		if isRoot() && (w.uid != g.uid || w.gid != g.gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, g.uid, g.gid, w.uid, w.gid)
		}
	}
	if got["bin/su"].ino != got["usr/lib/su-hardlink"].ino {
		t.Error("bin/su and usr/lib/su-hardlink are no longer the same inode")
	}
	if isRoot() && got["bin/ping"].xattr != string(capV2) {
		t.Errorf("bin/ping lost %s", CapabilityXattr)
	}
	m1, _ := os.ReadFile(filepath.Join(dir, "manifest"))
	m2, _ := os.ReadFile(filepath.Join(dst, "manifest"))
	if !bytes.Equal(m1, m2) {
		t.Error("manifest bytes changed in the round trip")
	}
	if err := Extract(context.Background(), out, dst); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("extracting into a non-empty directory: %v, want a refusal", err)
	}
	file := filepath.Join(t.TempDir(), "a-file")
	must(t, os.WriteFile(file, []byte("keep me"), 0o644))
	if err := Extract(context.Background(), out, file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("extracting onto a file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Error("extracting onto a file replaced it")
	}
}

// TestActoolValidate runs the reference validator on our output, and our
// validator on actool's output (a tree without device nodes, on which
// actool build hangs).
func TestActoolValidate(t *testing.T) {
	tool := actool(t)
	_, out, _ := packFixture(t, PackOptions{Epoch: testEpoch, HasEpoch: true})
	if b, err := exec.Command(tool, "validate", out).CombinedOutput(); err != nil {
		t.Fatalf("actool validate rejects our archive: %v\n%s", err, b)
	}
	must(t, Validate(out))

	dir := t.TempDir()
	makeTree(t, dir)
	must(t, os.RemoveAll(filepath.Join(dir, "rootfs", "dev")))
	theirs := filepath.Join(t.TempDir(), "actool.aci")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, tool, "build", dir, theirs).CombinedOutput(); err != nil {
		t.Fatalf("actool build: %v\n%s", err, b)
	}
	if err := Validate(theirs); err != nil {
		t.Errorf("our validator rejects actool's archive: %v", err)
	}
	m, err := ReadManifest(theirs)
	must(t, err)
	if m.Name.String() != "example.com/fixture" {
		t.Errorf("manifest name %q", m.Name)
	}
}

// hostile describes one member of a hand-made archive.
type hostile struct {
	name, link string
	typ        byte
	body       string
}

const okManifest = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hostile"}`

func writeTarGz(t *testing.T, path string, ents []hostile) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := int64(0o644)
		if typ == tar.TypeDir {
			mode = 0o755
		}
		must(t, tw.WriteHeader(&tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: mode, Size: int64(len(e.body)), ModTime: time.Unix(testEpoch, 0)}))
		_, err := tw.Write([]byte(e.body))
		must(t, err)
	}
	must(t, tw.Close())
	must(t, zw.Close())
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// TestHostileArchives builds malicious or broken archives and wants
// Validate and Extract to refuse each, naming the entry, with nothing
// extracted and nothing written outside.
func TestHostileArchives(t *testing.T) {
	base := []hostile{{name: "manifest", body: okManifest}, {name: "rootfs/", typ: tar.TypeDir}}
	with := func(extra ...hostile) []hostile { return append(append([]hostile{}, base...), extra...) }
	tests := []struct {
		name  string
		ents  []hostile
		entry string // must be named in the error
		want  string
	}{
		{"absolute path", with(hostile{name: "/etc/evil", body: "x"}), "/etc/evil", "absolute path"},
		{"dotdot", with(hostile{name: "rootfs/../../evil", body: "x"}), "rootfs/../../evil", `".."`},
		{"symlink then write through it", with(
			hostile{name: "rootfs/escape", typ: tar.TypeSymlink, link: "/tmp"},
			hostile{name: "rootfs/escape/evil", body: "x"}), "rootfs/escape/evil", "symlink"},
		{"relative symlink leaving rootfs", with(hostile{name: "rootfs/a/up", typ: tar.TypeSymlink, link: "../../../etc"}), "rootfs/a/up", "escapes the rootfs"},
		{"hardlink to host file", with(hostile{name: "rootfs/passwd", typ: tar.TypeLink, link: "/etc/passwd"}), "rootfs/passwd", "absolute path"},
		{"hardlink with dotdot", with(hostile{name: "rootfs/passwd", typ: tar.TypeLink, link: "rootfs/../../etc/passwd"}), "rootfs/passwd", `".."`},
		{"hardlink through symlink", with(
			hostile{name: "rootfs/etc", typ: tar.TypeSymlink, link: "/etc"},
			hostile{name: "rootfs/shadow", typ: tar.TypeLink, link: "rootfs/etc/shadow"}), "rootfs/shadow", "symlink"},
		{"hardlink to missing entry", with(hostile{name: "rootfs/x", typ: tar.TypeLink, link: "rootfs/nothere"}), "rootfs/x", "not an earlier entry"},
		{"duplicate entry", with(hostile{name: "rootfs/a", body: "1"}, hostile{name: "rootfs/a", body: "2"}), "rootfs/a", "duplicate"},
		{"entry outside rootfs", with(hostile{name: "etc/passwd", body: "x"}), "etc/passwd", "not under rootfs/"},
		{"rootfs not a directory", []hostile{{name: "manifest", body: okManifest}, {name: "rootfs", body: "x"}}, "rootfs", "must be a directory"},
		{"no rootfs entry", []hostile{{name: "manifest", body: okManifest}, {name: "rootfs/a", body: "x"}}, "", "no explicit rootfs"},
		{"no manifest", []hostile{{name: "rootfs/", typ: tar.TypeDir}}, "", "no manifest"},
		{"bad manifest", []hostile{{name: "manifest", body: `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Bad Name"}`}, {name: "rootfs/", typ: tar.TypeDir}}, "", "ACIdentifier must contain only lower case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			file := filepath.Join(tmp, "hostile.aci")
			writeTarGz(t, file, tt.ents)
			for _, check := range []struct {
				what string
				err  error
			}{
				{"Validate", Validate(file)},
				{"Extract", Extract(context.Background(), file, filepath.Join(tmp, "out"))},
			} {
				if check.err == nil {
					t.Errorf("%s accepted the archive", check.what)
					continue
				}
				msg := check.err.Error()
				if !strings.Contains(msg, tt.want) || (tt.entry != "" && !strings.Contains(msg, fmt.Sprintf("%q", tt.entry))) {
					t.Errorf("%s: %v\nwant the reason %q and the entry %q named", check.what, msg, tt.want, tt.entry)
				}
			}
			if _, err := os.Lstat(filepath.Join(tmp, "out")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed extraction left %s behind", filepath.Join(tmp, "out"))
			}
			left, _ := filepath.Glob(filepath.Join(tmp, ".out.tmp-*"))
			if len(left) > 0 {
				t.Errorf("temporary directories left: %v", left)
			}
		})
	}
	if _, err := os.Lstat("/tmp/evil"); err == nil {
		t.Error("/tmp/evil exists: something was written through a symlink")
	}
}

func TestValidateName(t *testing.T) {
	_, out, _ := packFixture(t, PackOptions{})
	other := strings.TrimSuffix(out, ".aci") + ".tar.gz"
	must(t, os.Rename(out, other))
	if err := Validate(other); err == nil || !strings.Contains(err.Error(), "must end in .aci") {
		t.Errorf("Validate(%s) = %v, want a refusal of the name", other, err)
	}
	if _, err := Pack(context.Background(), t.TempDir(), filepath.Join(t.TempDir(), "x.tgz"), PackOptions{}); err == nil || !strings.Contains(err.Error(), "must end in .aci") {
		t.Errorf("Pack to x.tgz: %v, want a refusal of the name", err)
	}
}

// TestSchemaRejections wants invalid names, labels, exec and mount points
// refused with the schema's reason, and nothing written.
func TestSchemaRejections(t *testing.T) {
	tests := []struct {
		name   string
		mutate func() (error, bool) // returns the error and whether it came from NewManifest
		want   string
	}{
		{"upper-case name", func() (error, bool) { _, err := NewManifest("Example.com/App", nil); return err, true }, string(types.ErrInvalidCharInACIdentifier)},
		{"name with bad edge", func() (error, bool) { _, err := NewManifest("example.com/app-", nil); return err, true }, string(types.ErrInvalidEdgeInACIdentifier)},
		{"empty name", func() (error, bool) { _, err := NewManifest("", nil); return err, true }, string(types.ErrEmptyACIdentifier)},
		{"label called name", func() (error, bool) {
			_, err := NewManifest("example.com/app", map[string]string{"name": "x"})
			return err, true
		}, `invalid label name: "name"`},
		{"arm64 is not an appc arch", func() (error, bool) {
			_, err := NewManifest("example.com/app", map[string]string{"os": "linux", "arch": "arm64"})
			return err, true
		}, `bad arch "arm64"`},
		{"bad label key", func() (error, bool) {
			_, err := NewManifest("example.com/app", map[string]string{"Version": "1"})
			return err, true
		}, string(types.ErrInvalidCharInACIdentifier)},
		{"relative exec", func() (error, bool) { return withApp(`{"exec":["bin/sh"],"user":"0","group":"0"}`), false }, "must be an absolute path"},
		{"app without user", func() (error, bool) { return withApp(`{"exec":["/bin/sh"],"group":"0"}`), false }, "user is required"},
		{"mount point bad name", func() (error, bool) {
			return withApp(`{"exec":["/bin/sh"],"user":"0","group":"0","mountPoints":[{"name":"Data","path":"/data"}]}`), false
		}, "ACName must contain only lower case"},
		{"mount point relative path", func() (error, bool) {
			return withApp(`{"exec":["/bin/sh"],"user":"0","group":"0","mountPoints":[{"name":"data","path":"data"}]}`), false
		}, "must be an absolute, clean path"},
		{"unknown isolator", func() (error, bool) {
			return withApp(`{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"example.com/nope","value":{}}]}`), false
		}, "invalid isolator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, _ := tt.mutate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not give the schema's reason %q", err, tt.want)
			}
		})
	}
}

// withApp parses a manifest with the given app and, when that passes,
// tries to pack it: either step must refuse.
func withApp(app string) error {
	b := []byte(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","app":` + app + `}`)
	m, err := ParseManifest("test manifest", b)
	if err != nil {
		return err
	}
	rootfs, _ := os.MkdirTemp("", "aci-schema-")
	defer os.RemoveAll(rootfs)
	out := filepath.Join(rootfs, "out.aci")
	_, err = PackRootfs(context.Background(), m, rootfs, out, PackOptions{})
	if _, statErr := os.Stat(out); statErr == nil {
		return fmt.Errorf("%s written for an invalid manifest", out)
	}
	return err
}

// TestGoldenManifest checks the canonical bytes of a full manifest against
// testdata/aci/manifest.golden (go test -update rewrites it).
func TestGoldenManifest(t *testing.T) {
	m, err := NewManifest("example.com/golden", map[string]string{"version": "1.2.3", "os": "linux", "arch": "amd64"})
	must(t, err)
	app := `{"exec":["/usr/bin/app","--serve"],"user":"1000","group":"1000","workingDirectory":"/srv",` +
		`"environment":[{"name":"PATH","value":"/usr/bin:/bin"}],` +
		`"mountPoints":[{"name":"data","path":"/srv/data","readOnly":true}],` +
		`"ports":[{"name":"http","protocol":"tcp","port":8080}]}`
	m.App = &types.App{}
	must(t, m.App.UnmarshalJSON([]byte(app)))
	b, err := MarshalManifest(m)
	must(t, err)
	golden := filepath.Join("..", "..", "testdata", "aci", "manifest.golden")
	testutil.Golden(t, golden, b)
	back, err := ParseManifest(golden, b)
	must(t, err)
	if back.Name != m.Name || len(back.App.MountPoints) != 1 {
		t.Errorf("golden manifest did not parse back: %+v", back)
	}
}

// TestPatch renames and relabels an image: the manifest changes, every
// other entry is byte-identical, and the new ID matches the new file.
func TestPatch(t *testing.T) {
	_, in, oldID := packFixture(t, PackOptions{Epoch: testEpoch, HasEpoch: true})
	out := filepath.Join(t.TempDir(), "patched.aci")
	id, err := Patch(context.Background(), in, out, PatchOptions{Name: "example.com/renamed", Labels: map[string]string{"version": "2.0.0", "channel": "beta", "os": "linux"}})
	must(t, err)
	if id == oldID {
		t.Error("patched image has the old ID")
	}
	got, err := ImageID(out)
	must(t, err)
	if got != id {
		t.Errorf("Patch returned %s, file has %s", id, got)
	}
	must(t, Validate(out))
	m, err := ReadManifest(out)
	must(t, err)
	if m.Name != "example.com/renamed" {
		t.Errorf("name %q", m.Name)
	}
	for k, want := range map[string]string{"version": "2.0.0", "channel": "beta", "arch": "amd64"} {
		if v, _ := m.GetLabel(k); v != want && !(k == "arch" && v != "") {
			t.Errorf("label %s = %q, want %q", k, v, want)
		}
	}
	a, b := readEntries(t, in), readEntries(t, out)
	if len(a) != len(b) {
		t.Fatalf("%d entries after patch, want %d", len(b), len(a))
	}
	for i := 1; i < len(a); i++ {
		if a[i].hdr.Name != b[i].hdr.Name || !bytes.Equal(a[i].data, b[i].data) || a[i].hdr.Mode != b[i].hdr.Mode || a[i].hdr.Linkname != b[i].hdr.Linkname {
			t.Errorf("entry %s changed by the patch", a[i].hdr.Name)
		}
	}
	// Removing a label, and refusing an invalid one without writing.
	_, err = Patch(context.Background(), out, out, PatchOptions{Labels: map[string]string{"channel": ""}})
	must(t, err)
	m, _ = ReadManifest(out)
	if _, ok := m.GetLabel("channel"); ok {
		t.Error("label channel not removed")
	}
	bad := filepath.Join(t.TempDir(), "bad.aci")
	if _, err := Patch(context.Background(), in, bad, PatchOptions{Name: "Not Valid"}); err == nil || !strings.Contains(err.Error(), "ACIdentifier") {
		t.Errorf("invalid name: %v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a refused patch wrote its output")
	}
}

// TestCancel wants a cancelled pack to fail and leave no output.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "x.aci")
	if _, err := Pack(ctx, dir, out, PackOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Pack with a cancelled context: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*"))
	if len(left) > 0 {
		t.Errorf("cancelled pack left %v", left)
	}
}
