package static

import (
	"reflect"
	"strings"
	"testing"
)

const mesonOptions = `# SPDX-License-Identifier: LGPL-2.1-or-later
option('version-tag', type : 'string',
       description : 'override the git version string')
option('mode', type : 'combo', choices : ['developer', 'release'],
       description : 'autoenable features suitable for systemd development/release builds')
option('link-nspawn-static', type : 'boolean', value : false,
       description : 'also build systemd-nspawn.static')
option('logind', type : 'boolean',
       description : 'install the systemd-logind stack')
option('seccomp', type : 'combo', choices : ['auto', 'true', 'false'],
       description : 'SECCOMP support')
option('acl', type : 'combo', choices : ['auto', 'true', 'false'],
       description : 'libacl support')
option('gcrypt', type : 'combo', choices : ['auto', 'true', 'false'],
       description : 'gcrypt support')
option('default-dnssec', type : 'combo',
       description : 'default DNSSEC mode',
       choices : ['yes', 'allow-downgrade', 'no'],
       value : 'allow-downgrade')
option('urlify', type : 'boolean', value : 'true',
       description : 'enable pager Hyperlink ANSI sequence support')
`

func TestParseMesonOptions(t *testing.T) {
	got := ParseMesonOptions([]byte(mesonOptions))
	if len(got) != 9 {
		t.Fatalf("parsed %d options, want 9: %v", len(got), got)
	}
	if o := got["default-dnssec"]; o.Type != "combo" || !reflect.DeepEqual(o.Choices, []string{"yes", "allow-downgrade", "no"}) {
		t.Errorf("default-dnssec = %+v", o)
	}
	if o := got["logind"]; o.Type != "boolean" {
		t.Errorf("logind = %+v", o)
	}
}

func TestMesonArgs(t *testing.T) {
	got, err := MesonArgs(ParseMesonOptions([]byte(mesonOptions)), "252.39-1+rktbuild-static")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-Dbuildtype=release", "-Dprefer_static=true",
		"-Dacl=true", "-Dgcrypt=false", "-Dlink-nspawn-static=true", "-Dlogind=false",
		"-Dmode=release", "-Dseccomp=true", "-Dversion-tag=252.39-1+rktbuild-static",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MesonArgs =\n %v\nwant\n %v", got, want)
	}
	// Without the patch's option, the error says so.
	opts := ParseMesonOptions([]byte(mesonOptions))
	delete(opts, "link-nspawn-static")
	if _, err := MesonArgs(opts, ""); err == nil || !strings.Contains(err.Error(), "nspawn/patches/systemd") {
		t.Errorf("error %v", err)
	}
}

func TestFeatureString(t *testing.T) {
	out := "systemd 252 (252.39-1~deb12u2)\n+PAM -AUDIT +SECCOMP +ACL\n"
	if got := FeatureString(out); got != "+PAM -AUDIT +SECCOMP +ACL" {
		t.Errorf("got %q", got)
	}
	if FeatureString("one line") != "" {
		t.Error("one line")
	}
}
