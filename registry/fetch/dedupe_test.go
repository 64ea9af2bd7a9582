package fetch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
)

// An image published without its signature, behind two discovery
// prefixes that render the same URL, fails naming the signature URL once
// (issue 12, case 9: the error listed the same URL twice).
func TestMissingSignatureNamedOnce(t *testing.T) {
	e := setup(t)
	work := t.TempDir()
	ln, port := listen(t)
	h := &hostile{root: filepath.Join(work, "www"), base: fmt.Sprintf("https://127.0.0.1:%d", port), e: e, t: t}
	os.MkdirAll(h.root, 0o755)
	html, err := publish.IndexHTML(h.base, publish.DefaultTemplate, []string{"127.0.0.1", prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "index.html"), html, 0o644); err != nil {
		t.Fatal(err)
	}
	h.place(prefix+"/hello", "1.0.0", e.images[prefix+"/hello:1.0.0"], nil)
	rel, _ := publish.Render(publish.DefaultTemplate, prefix+"/hello", map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"}, "aci.asc")
	if err := os.Remove(filepath.Join(h.root, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
	e.serve(t, ln, h.root)
	trust := sign.TrustStore{Dir: filepath.Join(work, "trust")}
	if _, err := trust.Trust("127.0.0.1", fileBytes(t, e.good+".pub.asc")); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(work, "store"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetch.Fetch(context.Background(), prefix+"/hello:1.0.0", fetch.Options{Net: e.net(port), Store: st, Trust: trust})
	if err == nil {
		t.Fatal("fetch without a signature succeeded")
	}
	if n := strings.Count(err.Error(), rel); n != 1 {
		t.Errorf("error names %s %d times, want once: %v", rel, n, err)
	}
	if !strings.Contains(err.Error(), "404") {
		t.Errorf("error %q does not say the signature is missing", err)
	}
	assertEmpty(t, st)
}
