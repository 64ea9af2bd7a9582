package publish

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rktbuild/rktbuild/format/aci"
)

// TestValidateRefusesWhatRktCannotRender: publish refuses an image with a
// FIFO (or a device node) in its rootfs and accepts it once removed.
func TestValidateRefusesWhatRktCannotRender(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(rootfs, "dev", "initctl"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := aci.NewManifest("example.com/fifo", map[string]string{"version": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func()
		wantErr bool
	}{
		{"with a FIFO", func() {}, true},
		{"after RemoveSpecialFiles", func() {
			if _, err := aci.RemoveSpecialFiles(rootfs); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare()
			out := filepath.Join(t.TempDir(), "x.aci")
			if _, err := aci.PackRootfs(context.Background(), m, rootfs, out, aci.PackOptions{}); err != nil {
				t.Fatal(err)
			}
			err := validate(out)
			if tc.wantErr != errors.Is(err, aci.ErrRktUnrenderable) {
				t.Fatalf("validate = %v, want ErrRktUnrenderable: %v", err, tc.wantErr)
			}
		})
	}
}
