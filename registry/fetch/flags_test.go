package fetch

import (
	"strings"
	"testing"
)

func TestDiscoveryPort(t *testing.T) {
	p := func(n int) *int { return &n }
	for _, tc := range []struct {
		name, base string
		port       *int
		want       uint
		err        string
	}{
		{"example.com/app", "", nil, 0, ""},
		{"127.0.0.1/rktbuild/hello", "https://127.0.0.1:8443/", nil, 8443, ""},
		{"127.0.0.1/rktbuild/hello", "https://127.0.0.1/", nil, 0, ""},
		{"example.com/app", "https://127.0.0.1:8443/", nil, 0, ""},
		{"example.com/app", "https://127.0.0.1:8443/", p(9443), 9443, ""},
		{"example.com/app", "", p(0), 0, ""},
		{"example.com/app", "", p(70000), 0, "not a TCP port"},
		{"example.com/app", "", p(-1), 0, "not a TCP port"},
		{"example.com/app", "::not a url", nil, 0, ""},
	} {
		got, err := DiscoveryPort(tc.name, tc.base, tc.port)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("DiscoveryPort(%q, %q) = %d, %v; want error %q", tc.name, tc.base, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("DiscoveryPort(%q, %q) = %d, %v; want %d", tc.name, tc.base, got, err, tc.want)
		}
	}
}

func TestPromptConfirm(t *testing.T) {
	for _, tc := range []struct {
		prefix, answer string
		want           bool
		err            bool
	}{
		{"example.com", "y\n", true, false},
		{"example.com", "YES\n", true, false},
		{"", " yes \n", true, false},
		{"example.com", "n\n", false, false},
		{"example.com", "\n", false, false},
		{"example.com", "yes", true, false}, // no newline before EOF
		{"example.com", "", false, true},
	} {
		var out strings.Builder
		ok, err := PromptConfirm(strings.NewReader(tc.answer), &out, tc.prefix)("ABCD1234", "Carly <c@example.com>", "key.asc")
		if ok != tc.want || (err != nil) != tc.err {
			t.Errorf("answer %q: %v, %v; want %v (error %v)", tc.answer, ok, err, tc.want, tc.err)
		}
		where := "images under " + tc.prefix
		if tc.prefix == "" {
			where = "every image name"
		}
		if s := out.String(); !strings.Contains(s, "fingerprint: ABCD1234") || !strings.Contains(s, "Carly <c@example.com>") || !strings.Contains(s, where) {
			t.Errorf("prompt %q does not show the fingerprint, user and %q", s, where)
		}
	}
}
