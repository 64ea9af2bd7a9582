package acicheck

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
)

type entry struct {
	name, link string
	typ        byte
	body       string
}

func manifest(t *testing.T) string {
	m, err := aci.NewManifest("example.com/check", map[string]string{"version": "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := aci.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeACI(t *testing.T, dir string, entries []entry) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	f := filepath.Join(dir, "x.aci")
	if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAgreesWithAciValidate checks that the streaming check used while
// downloading accepts and refuses exactly what aci.Validate does, and
// computes the same image ID as aci.ImageID.
func TestAgreesWithAciValidate(t *testing.T) {
	mf := manifest(t)
	base := []entry{{name: "manifest", typ: tar.TypeReg, body: mf}, {name: "rootfs/", typ: tar.TypeDir}}
	with := func(extra ...entry) []entry { return append(append([]entry(nil), base...), extra...) }
	cases := []struct {
		name    string
		entries []entry
		ok      bool
	}{
		{"minimal", base, true},
		{"files, links, fifo", with(
			entry{name: "rootfs/etc/", typ: tar.TypeDir},
			entry{name: "rootfs/etc/a", typ: tar.TypeReg, body: "a"},
			entry{name: "rootfs/etc/b", typ: tar.TypeLink, link: "rootfs/etc/a"},
			entry{name: "rootfs/etc/c", typ: tar.TypeSymlink, link: "/etc/a"},
			entry{name: "rootfs/etc/d", typ: tar.TypeSymlink, link: "../etc/a"},
			entry{name: "rootfs/fifo", typ: tar.TypeFifo}), true},
		{"dot-dot name", with(entry{name: "rootfs/../../escape", typ: tar.TypeReg, body: "x"}), false},
		{"absolute name", with(entry{name: "/etc/passwd", typ: tar.TypeReg, body: "x"}), false},
		{"top-level extra", with(entry{name: "extra", typ: tar.TypeReg, body: "x"}), false},
		{"duplicate", with(entry{name: "rootfs/a", typ: tar.TypeReg, body: "x"}, entry{name: "rootfs/a", typ: tar.TypeReg, body: "y"}), false},
		{"symlink escaping", with(entry{name: "rootfs/up", typ: tar.TypeSymlink, link: "../../.."}), false},
		{"write through symlink", with(entry{name: "rootfs/l", typ: tar.TypeSymlink, link: "/tmp"}, entry{name: "rootfs/l/x", typ: tar.TypeReg, body: "x"}), false},
		{"hard link outside", with(entry{name: "rootfs/h", typ: tar.TypeLink, link: "manifest"}), false},
		{"hard link to a later entry", with(entry{name: "rootfs/h", typ: tar.TypeLink, link: "rootfs/later"}, entry{name: "rootfs/later", typ: tar.TypeReg, body: "x"}), false},
		{"no rootfs", []entry{{name: "manifest", typ: tar.TypeReg, body: mf}}, false},
		{"no manifest", []entry{{name: "rootfs/", typ: tar.TypeDir}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writeACI(t, t.TempDir(), tc.entries)
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res, err := Check(r)
			vErr := aci.Validate(f)
			if (err == nil) != tc.ok || (vErr == nil) != tc.ok {
				t.Fatalf("Check: %v; aci.Validate: %v; want ok=%v", err, vErr, tc.ok)
			}
			if err != nil {
				t.Logf("Check: %v | aci.Validate: %v", err, vErr)
				return
			}
			id, err := aci.ImageID(f)
			if err != nil || id != res.ID {
				t.Errorf("ID %s, aci.ImageID %s (%v)", res.ID, id, err)
			}
			if string(res.Manifest) != mf {
				t.Errorf("manifest differs")
			}
		})
	}
}
