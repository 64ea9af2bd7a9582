package static

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MesonOption is one option declared in systemd's meson_options.txt.
type MesonOption struct {
	Name    string
	Type    string   // boolean, combo, string, array, integer, feature
	Choices []string // for combo
}

var (
	optionRe  = regexp.MustCompile(`(?s)option\(\s*'([^']+)'\s*,\s*type\s*:\s*'(\w+)'(.*?)\)\s*(?:\n|$)`)
	choicesRe = regexp.MustCompile(`choices\s*:\s*\[([^\]]*)\]`)
	quotedRe  = regexp.MustCompile(`'([^']*)'`)
)

// ParseMesonOptions reads the options a meson_options.txt declares.
func ParseMesonOptions(data []byte) map[string]MesonOption {
	out := map[string]MesonOption{}
	for _, m := range optionRe.FindAllStringSubmatch(string(data), -1) {
		o := MesonOption{Name: m[1], Type: m[2]}
		if c := choicesRe.FindStringSubmatch(m[3]); c != nil {
			for _, q := range quotedRe.FindAllStringSubmatch(c[1], -1) {
				o.Choices = append(o.Choices, q[1])
			}
		}
		out[o.Name] = o
	}
	return out
}

// wantedOptions are set to these values: the static target, the features
// nspawn keeps (seccomp filters, ACLs for --private-users, blkid for
// --image), a release build without tests, docs or translations.
var wantedOptions = map[string]string{
	"link-nspawn-static": "true", // from nspawn/patches/systemd
	"seccomp":            "true",
	"acl":                "true",
	"blkid":              "true",
	"mode":               "release",
	"tests":              "false",
	"install-tests":      "false",
	"man":                "false",
	"html":               "false",
	"translations":       "false",
}

// disabledBooleans are components nspawn does not need; they are boolean
// options (on by default) in systemd 252. Every auto/true/false combo
// option not in wantedOptions is set to false as well, so no optional
// library is picked up just because the host has it installed.
var disabledBooleans = []string{
	"analyze", "backlight", "binfmt", "coredump", "create-log-dirs", "efi",
	"environment-d", "firstboot", "gshadow", "hibernate", "hostnamed", "hwdb",
	"idn", "ima", "initrd", "kernel-install", "ldconfig", "localed", "logind",
	"machined", "networkd", "nscd", "nss-myhostname", "nss-systemd", "oomd",
	"portabled", "pstore", "quotacheck", "randomseed", "resolve", "rfkill",
	"smack", "sysext", "sysusers", "timedated", "timesyncd", "tmpfiles", "tpm",
	"userdb", "utmp", "vconsole", "xdg-autostart",
}

// MesonArgs returns the -D options for systemd's meson setup, given the
// options its meson_options.txt declares. Options a version lacks are left
// out, so the same code serves several systemd versions; the static target
// option must exist (it comes from our patch).
func MesonArgs(opts map[string]MesonOption, versionTag string) ([]string, error) {
	if _, ok := opts["link-nspawn-static"]; !ok {
		return nil, fmt.Errorf("systemd's meson_options.txt has no link-nspawn-static option: the patch in nspawn/patches/systemd was not applied")
	}
	set := map[string]string{}
	for name, v := range wantedOptions {
		if _, ok := opts[name]; ok {
			set[name] = v
		}
	}
	for _, name := range disabledBooleans {
		if o, ok := opts[name]; ok && o.Type == "boolean" {
			set[name] = "false"
		}
	}
	for name, o := range opts {
		if _, ok := set[name]; ok || o.Type != "combo" {
			continue
		}
		if has(o.Choices, "auto") && has(o.Choices, "false") {
			set[name] = "false"
		}
	}
	if _, ok := opts["version-tag"]; ok && versionTag != "" {
		set["version-tag"] = versionTag
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	args := []string{"-Dbuildtype=release", "-Dprefer_static=true"}
	for _, n := range names {
		args = append(args, "-D"+n+"="+set[n])
	}
	return args, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FeatureString extracts the feature line from `systemd-nspawn --version`.
func FeatureString(versionOutput string) string {
	lines := strings.Split(strings.TrimSpace(versionOutput), "\n")
	if len(lines) < 2 {
		return ""
	}
	return strings.TrimSpace(lines[1])
}
