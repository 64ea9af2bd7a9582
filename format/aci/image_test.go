package aci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
