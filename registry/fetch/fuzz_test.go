package fetch_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/fetch"
)

// FuzzImageRef feeds arbitrary image references to the one reference
// parser (aci.ParseRef) and to fetch's request built on it. Neither may
// panic; whatever either accepts must print back to a reference that
// parses to the same name and labels.
func FuzzImageRef(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "registry", "fuzz-refs.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if req, err := fetch.ParseRequest(ref); err == nil {
			again, err := fetch.ParseRequest(req.String())
			if err != nil {
				t.Fatalf("ParseRequest(%q) = %v, whose String %q does not parse: %v", ref, req, req.String(), err)
			}
			if again.Name != req.Name || !maps.Equal(again.Labels, req.Labels) || again.Latest != req.Latest {
				t.Fatalf("round trip of %q: %+v, then %+v", ref, req, again)
			}
		}
		parsed, err := aci.ParseRef(ref)
		if err != nil {
			if err.Error() == "" || !strings.Contains(err.Error(), "image") {
				t.Fatalf("aci.ParseRef(%q): error %q does not name the image", ref, err)
			}
			return
		}
		again, err := aci.ParseRef(parsed.String())
		if err != nil || again.Name != parsed.Name || !maps.Equal(again.Labels, parsed.Labels) {
			t.Fatalf("aci.ParseRef(%q) = %+v; printed %q parses to %+v (%v)", ref, parsed, parsed.String(), again, err)
		}
	})
}
