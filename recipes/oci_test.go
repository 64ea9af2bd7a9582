package recipes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportOCI exports a tiny image in each format and refuses unknown
// formats and a missing output with errors that say what to give.
func TestExportOCI(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "app.aci")
	packTiny(t, file, "example.com/app", "1.0.0")
	for _, tc := range []struct {
		format, out, err string
		check            string
	}{
		{"", "layout", "", "oci-layout"},
		{"oci-archive", "app.tar", "", ""},
		{"docker-archive", "app-docker.tar", "", ""},
		{"zip", "x", "use layout, oci-archive, docker-archive", ""},
		{"layout", "", "name the output", ""},
	} {
		out := ""
		if tc.out != "" {
			out = filepath.Join(tmp, tc.out)
		}
		msg, err := ExportOCI(context.Background(), file, out, tc.format, 1700000000, true)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("format %q out %q: %v, want error %q", tc.format, tc.out, err, tc.err)
			}
			continue
		}
		if err != nil || !strings.Contains(msg, "example.com/app:1.0.0") {
			t.Errorf("format %q: %q, %v", tc.format, msg, err)
			continue
		}
		if _, err := os.Stat(filepath.Join(out, tc.check)); err != nil {
			t.Errorf("format %q: %v", tc.format, err)
		}
	}
}
