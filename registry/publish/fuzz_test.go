package publish

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"
)

// pageTransport answers every request with one page (the fuzz input),
// feeding it to the real appc discovery client and its HTML parsing.
type pageTransport struct{ page []byte }

func (p pageTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"text/html"}},
		Body: io.NopCloser(bytes.NewReader(p.page)), Request: r}, nil
}

var discoveryMu sync.Mutex

// discover runs appc discovery (as rkt and `mage fetch` do) against page.
func discover(name string, page []byte) (discovery.ACIEndpoints, error) {
	discoveryMu.Lock()
	defer discoveryMu.Unlock()
	saved := *discovery.Client
	defer func() { *discovery.Client = saved }()
	discovery.Client.Transport = pageTransport{page}
	app := discovery.App{Name: types.ACIdentifier(name), Labels: map[types.ACIdentifier]string{"version": "1.0.0", "os": "linux", "arch": "amd64"}}
	eps, _, err := discovery.DiscoverACIEndpoints(app, nil, 0, 0)
	return eps, err
}

// FuzzDiscoveryHTML renders index.html for a fuzzed prefix and template,
// appends fuzzed HTML, and parses it with the appc discovery client. It
// must never panic; a rendered endpoint never keeps an unfilled {variable};
// and when IndexHTML accepted the prefix and template, discovery finds
// exactly the URL Render lays the image out at.
func FuzzDiscoveryHTML(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "registry", "fuzz-discovery", "*.html"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("example.com", DefaultTemplate, string(b))
	}
	f.Add("example.com/tools", "{name}/{version}/{os}-{arch}.{ext}", "")
	f.Add("example.com", "{name}.{ext}", `<meta name="ac-discovery" content="example.com https://evil.example/{name}.{ext}">`)
	f.Add("exa\"mple.com", DefaultTemplate, "<meta")
	const base = "https://registry.example.org"
	f.Fuzz(func(t *testing.T, prefix, tpl, extra string) {
		name := strings.TrimRight(prefix, "/") + "/app"
		page, err := IndexHTML(base, tpl, []string{prefix}, nil)
		ours := ""
		if err == nil && CheckTemplate(tpl) == nil && validName(name) {
			rel, rerr := Render(tpl, name, map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"}, "aci")
			if rerr == nil {
				ours = base + "/" + rel
			}
		} else {
			page = nil
		}
		page = append(page, extra...)
		eps, err := discover(name, page)
		for _, ep := range eps {
			if strings.ContainsAny(ep.ACI, "{}") && strings.Contains(ep.ACI, "{name}") {
				t.Fatalf("endpoint %q keeps an unfilled variable", ep.ACI)
			}
		}
		if ours == "" || !strings.HasPrefix(name, prefix) {
			return
		}
		if err != nil {
			t.Fatalf("discovery of %s in our own index.html failed: %v\n%s", name, err, page)
		}
		found := false
		for _, ep := range eps {
			found = found || ep.ACI == ours
		}
		if !found {
			t.Fatalf("discovery of %s found %v, not %s", name, eps, ours)
		}
	})
}

func validName(name string) bool {
	_, err := types.NewACIdentifier(name)
	return err == nil
}
