package fetch_test

import (
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/store"
)

// FuzzImageRef feeds arbitrary image references to both parsers: fetch's
// (appc discovery's grammar, as rkt used) and the store's. Neither may
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
		name, labels, err := store.ParseRef(ref)
		if err != nil {
			if err.Error() == "" || !strings.Contains(err.Error(), "image") {
				t.Fatalf("store.ParseRef(%q): error %q does not name the image", ref, err)
			}
			return
		}
		s := name
		if v, ok := labels["version"]; ok {
			s += ":" + v
		}
		var ks []string
		for k := range labels {
			if k != "version" {
				ks = append(ks, k)
			}
		}
		sort.Strings(ks)
		for _, k := range ks {
			s += "," + k + "=" + labels[k]
		}
		n2, l2, err := store.ParseRef(s)
		if err != nil || n2 != name || !maps.Equal(l2, labels) {
			t.Fatalf("store.ParseRef(%q) = %q %v; printed %q parses to %q %v (%v)", ref, name, labels, s, n2, l2, err)
		}
	})
}
