package bench

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestSelect(t *testing.T) {
	for _, tt := range []struct {
		names   string
		want    string
		wantErr string
	}{
		{"all", strings.Join(Names(), ","), ""},
		{"", strings.Join(Names(), ","), ""},
		{"sign,aci", "aci,sign", ""}, // List order, not argument order
		{" Fetch ", "fetch", ""},
		{"aci,nosuch", "", `no benchmark "nosuch": choose all or a comma-separated list of aci, sign`},
	} {
		got, err := Select(tt.names)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Select(%q) error = %v, want %q", tt.names, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%q): %v", tt.names, err)
			continue
		}
		var names []string
		for _, b := range got {
			names = append(names, b.Name)
		}
		if s := strings.Join(names, ","); s != tt.want {
			t.Errorf("Select(%q) = %s, want %s", tt.names, s, tt.want)
		}
	}
}

// TestListComplete checks every benchmark can run: a unique name, a
// summary, a tool list and a function.
func TestListComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range List {
		if b.Name == "" || seen[b.Name] || b.Summary == "" || b.Tools == nil || b.Run == nil {
			t.Errorf("incomplete or repeated benchmark %+v", b)
		}
		seen[b.Name] = true
	}
}

func TestWriteTableGolden(t *testing.T) {
	var buf bytes.Buffer
	err := WriteTable(&buf, []Row{
		{Name: "aci", Result: Result{Ours: 2680 * time.Millisecond, Peer: 13980 * time.Millisecond, PeerTool: "actool build"}},
		{Name: "fetch", Err: errors.New("curl: exit 7\nmore detail")},
		{Name: "zero", Result: Result{PeerTool: "none"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "table.golden"), buf.Bytes())
}
