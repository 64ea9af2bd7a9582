package static

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

const hostDeb822 = `Types: deb
# a comment inside a stanza
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: https://thirdparty.example/apt
Suites: nodistro
Components: main
`

const hostList = `# comment
deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg trusted=yes] http://mirror.example/debian bookworm main # trailing
deb-src http://mirror.example/debian bookworm main
deb https://packages.thirdparty.example/apt cloud-sdk-bookworm main
deb http://snapshot.example/archive/debian/20250520T000000Z/ stable main
deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_ - Official amd64 DVD Binary-1]/ bookworm contrib main
`

func TestParseList(t *testing.T) {
	got, err := ParseList([]byte(hostList), "sources.list")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d entries, want 4: %+v", len(got), got)
	}
	want := Source{Types: []string{"deb"}, URIs: []string{"http://mirror.example/debian"}, Suites: []string{"bookworm"},
		Components: []string{"main"}, SignedBy: "/etc/apt/keyrings/x.gpg", File: "sources.list", Line: 2}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("entry 0 = %+v, want %+v", got[0], want)
	}
	if got[1].Types[0] != "deb-src" || got[1].SignedBy != "" {
		t.Errorf("entry 1 = %+v", got[1])
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
		deb822           bool
	}{
		{"list without suite", "deb http://x/debian\n", "sources.list:1: malformed apt source line", false},
		{"deb822 without suites", "Types: deb\nURIs: http://x\n", "needs Types, URIs and Suites", true},
		{"deb822 garbage", "Types deb\n", "expected Field: value", true},
		{"deb822 stray continuation", " continued\n", "continuation line without a field", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.deb822 {
				_, err = ParseDeb822([]byte(tc.data), "x.sources")
			} else {
				_, err = ParseList([]byte(tc.data), "sources.list")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDeriveSources(t *testing.T) {
	host, err := ParseDeb822([]byte(hostDeb822), "debian.sources")
	if err != nil {
		t.Fatal(err)
	}
	list, err := ParseList([]byte(hostList), "sources.list")
	if err != nil {
		t.Fatal(err)
	}
	host = append(host, list...)
	type want struct{ uri, suite string }
	for _, tc := range []struct {
		name, codename, release string
		want                    []want
		err                     string
	}{
		{"same release", "bookworm", "bookworm", []want{
			{"http://mirror.example/debian", "bookworm"},
			{"http://mirror.example/debian", "bookworm-updates"},
			{"http://mirror.example/debian-security", "bookworm-security"},
		}, ""},
		{"other release from host codename", "bookworm", "trixie", []want{
			{"http://mirror.example/debian", "trixie"},
			{"http://mirror.example/debian", "trixie-updates"},
			{"http://mirror.example/debian-security", "trixie-security"},
		}, ""},
		{"no codename known, release named directly", "", "bookworm", []want{
			{"http://mirror.example/debian", "bookworm"},
			{"http://mirror.example/debian", "bookworm-updates"},
			{"http://mirror.example/debian-security", "bookworm-security"},
		}, ""},
		{"nothing to derive", "", "xenial", nil, `no apt source for release "xenial"`},
		{"empty release", "bookworm", "", nil, "set NSPAWN_RELEASE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeriveSources(host, tc.codename, tc.release)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g []want
			for _, s := range got {
				if s.Types[0] != "deb-src" {
					t.Errorf("entry %+v is not deb-src", s)
				}
				if strings.Contains(s.URIs[0], "disabled") || strings.Contains(s.URIs[0], "thirdparty") {
					t.Errorf("entry %+v should have been left out", s)
				}
				g = append(g, want{s.URIs[0], s.Suites[0]})
			}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestFormatDeb822Golden(t *testing.T) {
	host, err := ParseDeb822([]byte(hostDeb822), "debian.sources")
	if err != nil {
		t.Fatal(err)
	}
	src, err := DeriveSources(host, "bookworm", "trixie")
	if err != nil {
		t.Fatal(err)
	}
	got := FormatDeb822(src)
	golden := filepath.Join("..", "..", "testdata", "nspawn", "trixie.sources")
	testutil.Golden(t, golden, got)
	// The result parses back to the same entries.
	back, err := ParseDeb822(got, "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(src) || back[2].Suites[0] != "trixie-security" || back[0].SignedBy != src[0].SignedBy {
		t.Errorf("round trip: %+v", back)
	}
}

func TestHostSources(t *testing.T) {
	dir := t.TempDir()
	parts := filepath.Join(dir, "sources.list.d")
	if err := os.MkdirAll(parts, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(parts, "debian.sources"), hostDeb822)
	write(filepath.Join(parts, "other.list"), "deb http://other.example/debian bookworm main\n")
	write(filepath.Join(parts, "ignored.list.disabled"), "this is not parsed\n")
	write(filepath.Join(dir, "os-release"), "NAME=\"Debian GNU/Linux\"\nVERSION_CODENAME=bookworm\n")
	got, err := HostSources(filepath.Join(dir, "sources.list"), parts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[3].URIs[0] != "http://other.example/debian" {
		t.Errorf("got %+v", got)
	}
	code, err := HostCodename(filepath.Join(dir, "os-release"))
	if err != nil || code != "bookworm" {
		t.Errorf("HostCodename = %q, %v", code, err)
	}
}

func TestParsePrintURIs(t *testing.T) {
	out := "Reading package lists...\n" +
		"'http://mirror.example/debian/pool/main/s/systemd/systemd_252.39-1%7edeb12u2.dsc' systemd_252.39-1~deb12u2.dsc 6574 SHA256:f2f9\n" +
		"'http://mirror.example/debian/pool/main/s/systemd/systemd_252.39.orig.tar.gz' systemd_252.39.orig.tar.gz 1 SHA256:00\n"
	v, dsc, err := parsePrintURIs(out, "systemd", "bookworm")
	if err != nil || v != "252.39-1~deb12u2" || dsc != "systemd_252.39-1~deb12u2.dsc" {
		t.Errorf("got %q %q %v", v, dsc, err)
	}
	if _, _, err := parsePrintURIs("Reading package lists...\n", "systemd", "bookworm"); err == nil || !strings.Contains(err.Error(), "no source package systemd") {
		t.Errorf("error %v", err)
	}
}

func TestUnpackedDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "util-linux-2.38.1"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := UnpackedDir(dir, "util-linux", "2.38.1-5+deb12u3")
	if err != nil || got != filepath.Join(dir, "util-linux-2.38.1") {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := UnpackedDir(dir, "systemd", "1:252-1"); err == nil || !strings.Contains(err.Error(), "systemd-252") {
		t.Errorf("error %v", err)
	}
	if upstreamVersion("1:2.38.1-5+deb12u3") != "2.38.1" {
		t.Error("upstreamVersion")
	}
}
