package publish

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestRender(t *testing.T) {
	labels := map[string]string{"version": "1.2.3", "os": "linux", "arch": "amd64", "name": "ignored", "flavor": "{x}"}
	cases := []struct {
		tpl, ext, want, err string
	}{
		{DefaultTemplate, "aci", "example.com/app-1.2.3-linux-amd64.aci", ""},
		{DefaultTemplate, "aci.asc", "example.com/app-1.2.3-linux-amd64.aci.asc", ""},
		{"images/{os}/{arch}/{name}:{version}.{ext}", "aci", "images/linux/amd64/example.com/app:1.2.3.aci", ""},
		{"{name}-{channel}.{ext}", "aci", "", "no value for {channel}"},
		{"{name}-{flavor}.{ext}", "aci", "", "keeps a brace"},
	}
	for _, tc := range cases {
		got, err := Render(tc.tpl, "example.com/app", labels, tc.ext)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Render(%q): %v, want error %q", tc.tpl, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.tpl, got, err, tc.want)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	for tpl, ok := range map[string]bool{
		DefaultTemplate:              true,
		"aci/{name}-{version}.{ext}": true,
		"":                           false,
		"https://x/{name}.{ext}":     false,
		"/{name}.{ext}":              false,
		"{version}.{ext}":            false,
		"{name}-{version}":           false,
		"{{name}}{ext}":              false,
		"{name}}.{ext}":              false,
		"{name}.{ext}{":              false,
	} {
		if err := CheckTemplate(tpl); (err == nil) != ok {
			t.Errorf("CheckTemplate(%q) = %v, want ok=%v", tpl, err, ok)
		}
	}
	for p, ok := range map[string]bool{"a/b.aci": true, "../x.aci": false, "a/./b": false, ".x": false, "a//b": false, "/a": false} {
		if _, err := relPath(p); (err == nil) != ok {
			t.Errorf("relPath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

// TestIndexHTML compares index.html with the golden file and checks the
// exact meta tags appc discovery parses (TestLoopbackEndToEnd in
// registry/fetch runs the real discovery client against it).
func TestIndexHTML(t *testing.T) {
	entries := []Entry{
		{Path: "example.com/app-1.0.0-linux-amd64.aci", Name: "example.com/app", ID: "sha512-" + strings.Repeat("ab", 64), Size: 1234567,
			Labels: map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64", "channel": "stable"}},
		{Path: "example.com/app-latest-linux-amd64.aci", Name: "example.com/app", ID: "sha512-" + strings.Repeat("ab", 64), Size: 1234567, IsLatest: true,
			Labels: map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64", "channel": "stable"}},
	}
	got, err := IndexHTML("https://example.com:8443/", DefaultTemplate, []string{"example.com/app", "example.com"}, entries)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("..", "..", "testdata", "registry", "index.golden.html")
	testutil.Golden(t, golden, got)
	for _, m := range []string{
		`<meta name="ac-discovery" content="example.com https://example.com:8443/{name}-{version}-{os}-{arch}.{ext}">`,
		`<meta name="ac-discovery-pubkeys" content="example.com https://example.com:8443/pubkeys.gpg">`,
	} {
		if !strings.Contains(string(got), m) {
			t.Errorf("index.html lacks %s", m)
		}
	}
}
