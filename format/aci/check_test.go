package aci

import (
	"crypto/rand"
	"encoding/base64"

	"archive/tar"
	"bytes"
	"compress/gzip"
	kgzip "github.com/klauspost/compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

type checkEntry struct {
	name, link string
	typ        byte
	body       string
}

func sampleManifest(t testing.TB) string {
	m, err := NewManifest("example.com/check", map[string]string{"version": "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeCheckACI(t *testing.T, dir string, entries []checkEntry) string {
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
// downloading accepts and refuses exactly what Validate does, and
// computes the same image ID as ImageID.
func TestCheckAgreesWithValidate(t *testing.T) {
	mf := sampleManifest(t)
	base := []checkEntry{{name: "manifest", typ: tar.TypeReg, body: mf}, {name: "rootfs/", typ: tar.TypeDir}}
	with := func(extra ...checkEntry) []checkEntry { return append(append([]checkEntry(nil), base...), extra...) }
	cases := []struct {
		name    string
		entries []checkEntry
		ok      bool
	}{
		{"minimal", base, true},
		{"files, links, fifo", with(
			checkEntry{name: "rootfs/etc/", typ: tar.TypeDir},
			checkEntry{name: "rootfs/etc/a", typ: tar.TypeReg, body: "a"},
			checkEntry{name: "rootfs/etc/b", typ: tar.TypeLink, link: "rootfs/etc/a"},
			checkEntry{name: "rootfs/etc/c", typ: tar.TypeSymlink, link: "/etc/a"},
			checkEntry{name: "rootfs/etc/d", typ: tar.TypeSymlink, link: "../etc/a"},
			checkEntry{name: "rootfs/fifo", typ: tar.TypeFifo}), true},
		{"dot-dot name", with(checkEntry{name: "rootfs/../../escape", typ: tar.TypeReg, body: "x"}), false},
		{"absolute name", with(checkEntry{name: "/etc/passwd", typ: tar.TypeReg, body: "x"}), false},
		{"top-level extra", with(checkEntry{name: "extra", typ: tar.TypeReg, body: "x"}), false},
		{"duplicate", with(checkEntry{name: "rootfs/a", typ: tar.TypeReg, body: "x"}, checkEntry{name: "rootfs/a", typ: tar.TypeReg, body: "y"}), false},
		{"symlink escaping", with(checkEntry{name: "rootfs/up", typ: tar.TypeSymlink, link: "../../.."}), false},
		{"write through symlink", with(checkEntry{name: "rootfs/l", typ: tar.TypeSymlink, link: "/tmp"}, checkEntry{name: "rootfs/l/x", typ: tar.TypeReg, body: "x"}), false},
		{"hard link outside", with(checkEntry{name: "rootfs/h", typ: tar.TypeLink, link: "manifest"}), false},
		{"hard link to a later entry", with(checkEntry{name: "rootfs/h", typ: tar.TypeLink, link: "rootfs/later"}, checkEntry{name: "rootfs/later", typ: tar.TypeReg, body: "x"}), false},
		{"no rootfs", []checkEntry{{name: "manifest", typ: tar.TypeReg, body: mf}}, false},
		{"no manifest", []checkEntry{{name: "rootfs/", typ: tar.TypeDir}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writeCheckACI(t, t.TempDir(), tc.entries)
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res, err := Check(r)
			vErr := Validate(f)
			if (err == nil) != tc.ok || (vErr == nil) != tc.ok {
				t.Fatalf("Check: %v; Validate: %v; want ok=%v", err, vErr, tc.ok)
			}
			if err != nil {
				t.Logf("Check: %v | Validate: %v", err, vErr)
				return
			}
			id, err := ImageID(f)
			if err != nil || id != res.ID {
				t.Errorf("ID %s, ImageID %s (%v)", res.ID, id, err)
			}
			if string(res.Manifest) != mf {
				t.Errorf("manifest differs")
			}
		})
	}
}

// BenchmarkCheck measures the streaming check (decompress, image ID, header
// rules) on a 64 MiB half-random, half-text image held in memory.
func BenchmarkCheck(b *testing.B) {
	var buf bytes.Buffer
	zw := kgzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mf := sampleManifest(b)
	tw.WriteHeader(&tar.Header{Name: "manifest", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(mf))})
	tw.Write([]byte(mf))
	tw.WriteHeader(&tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755})
	chunk := make([]byte, 1<<20)
	var size int64
	for i := 0; i < 64; i++ {
		rand.Read(chunk)
		data := chunk
		if i%2 == 1 {
			data = []byte(base64.StdEncoding.EncodeToString(chunk[:3<<18]))
		}
		tw.WriteHeader(&tar.Header{Name: "rootfs/f" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
		size += int64(len(data))
	}
	tw.Close()
	zw.Close()
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Check(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
