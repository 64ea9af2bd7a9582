package aci

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
)

// TestOpen checks that one pass over an ACI yields the same ID as
// ImageID and Pack, the manifest Pack wrote, and that files which are not
// valid ACIs are refused with the file and the way to learn more named.
func TestOpen(t *testing.T) {
	_, out, id := packFixture(t, PackOptions{Epoch: testEpoch, HasEpoch: true})
	im, err := Open(out)
	must(t, err)
	fi, err := os.Stat(out)
	must(t, err)
	if im.ID != id || im.Path != out || im.Size != fi.Size() {
		t.Errorf("Open = %s %s %d; want %s %s %d", im.ID, im.Path, im.Size, id, out, fi.Size())
	}
	if im.Name() != "example.com/fixture" || im.ShortID() != id[:39] {
		t.Errorf("Open: name %q, short ID %q", im.Name(), im.ShortID())
	}
	if m, err := ReadManifest(out); err != nil || m.Name != im.Manifest.Name || len(m.Labels) != len(im.Labels()) {
		t.Errorf("Open's manifest differs from ReadManifest's: %v %v", im.Manifest, err)
	}

	dir := t.TempDir()
	comp, err := os.ReadFile(out)
	must(t, err)
	short := filepath.Join(dir, "short.aci")
	must(t, os.WriteFile(short, comp[:len(comp)/2], 0o644))
	noManifest := filepath.Join(dir, "nomanifest.aci")
	writeTarGz(t, noManifest, []hostile{{name: "rootfs", typ: '5'}})
	escape := filepath.Join(dir, "escape.aci")
	writeTarGz(t, escape, []hostile{{name: "manifest", body: okManifest}, {name: "rootfs", typ: '5'}, {name: "rootfs/../../etc/passwd", body: "x"}})
	for _, tc := range []struct{ file, want string }{
		{short, "not a valid ACI"},
		{noManifest, "manifest"},
		{escape, "not a valid ACI"},
		{filepath.Join(dir, "missing.aci"), "no such file"},
	} {
		_, err := Open(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("Open(%s) = %v, want an error naming the file and %q", filepath.Base(tc.file), err, tc.want)
		}
	}
}

// TestWalk: one pass gives Pack's ID, the manifest (before any entry) and
// every rootfs entry relative to rootfs/; a file with an entry outside
// rootfs/ or without a manifest is refused.
func TestWalk(t *testing.T) {
	_, out, id := packFixture(t, PackOptions{Epoch: testEpoch, HasEpoch: true})
	var names []string
	sawManifest := false
	im, err := Walk(context.Background(), out, Walker{
		Manifest: func(m *schema.ImageManifest) error { sawManifest = len(names) == 0; return nil },
		Entry: func(name string, hdr *tar.Header, body io.Reader) error {
			if strings.HasPrefix(name, "rootfs") || strings.HasPrefix(name, "/") {
				t.Errorf("entry name %q is not relative to rootfs/", name)
			}
			names = append(names, name)
			return nil
		},
	})
	must(t, err)
	if im.ID != id || !sawManifest || im.Name() != "example.com/fixture" {
		t.Errorf("Walk = %s (manifest first: %v, name %s); want %s", im.ID, sawManifest, im.Name(), id)
	}
	want := readEntries(t, out)
	if len(names) != len(want)-2 { // manifest and rootfs itself are not entries
		t.Errorf("Walk saw %d entries, the archive has %d besides manifest and rootfs", len(names), len(want)-2)
	}
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside.aci")
	writeTarGz(t, outside, []hostile{{name: "manifest", body: okManifest}, {name: "rootfs", typ: '5'}, {name: "etc/passwd", body: "x"}})
	noManifest := filepath.Join(dir, "nomanifest.aci")
	writeTarGz(t, noManifest, []hostile{{name: "rootfs", typ: '5'}})
	for _, tc := range []struct{ file, want string }{{outside, "outside rootfs/"}, {noManifest, "no manifest"}} {
		if _, err := Walk(context.Background(), tc.file, Walker{}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("Walk(%s) = %v, want an error naming the file and %q", filepath.Base(tc.file), err, tc.want)
		}
	}
}
