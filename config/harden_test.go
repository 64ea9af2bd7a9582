package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each bad configuration is refused with an error naming the file and
// line (or the environment), the key and the fix.
func TestConfigMistakesAreErrors(t *testing.T) {
	tests := []struct {
		name      string
		dotconfig string
		env       map[string]string
		want      []string
	}{
		{"unclosed reference", "S1B_OUT_DIR=${S1B_OUT_DIR\n", nil,
			[]string{".config:1", "S1B_OUT_DIR", `unclosed reference "${S1B_OUT_DIR"`, `"$$"`}},
		{"empty reference", "S1B_OUT_DIR=out${}\n", nil,
			[]string{".config:1", "S1B_OUT_DIR", `empty reference "${}"`}},
		{"reference with a bad name", "S1B_OUT_DIR=${A-B}\n", nil,
			[]string{".config:1", `"${A-B}" is not a key name`}},
		{"lone dollar", "KEY_USE_COMMENT=costs 5$\n", nil,
			[]string{".config:1", "KEY_USE_COMMENT", `"$$"`}},
		{"lone dollar before a space", "KEY_USE_COMMENT='a $ b'\n", nil,
			[]string{".config:1", `lone "$" before " "`}},
		{"unclosed reference from the environment", "", map[string]string{"S1B_OUT_DIR": "${S1B_OUT_DIR"},
			[]string{"environment", "S1B_OUT_DIR", "unclosed reference"}},
		{"duplicate key", "ROOTFS_SUITE=bookworm\n# x\nROOTFS_SUITE=trixie\n", nil,
			[]string{".config:3", "ROOTFS_SUITE is set again", ".config:1 set it first"}},
		{"bad epoch", "SOURCE_DATE_EPOCH=yesterday\n", nil,
			[]string{".config:1", `SOURCE_DATE_EPOCH="yesterday"`, "git log -1"}},
		{"negative epoch", "", map[string]string{"SOURCE_DATE_EPOCH": "-5"},
			[]string{"environment", "SOURCE_DATE_EPOCH"}},
		{"kernel URL without scheme", "S1B_KERNEL_URL=cdn.example.org/pub\n", nil,
			[]string{".config:1", "S1B_KERNEL_URL", "https://host/path"}},
		{"kernel URL ftp", "S1B_KERNEL_URL=ftp://example.org/pub\n", nil,
			[]string{"S1B_KERNEL_URL", "not an http:// or https:// URL"}},
		{"publish URL without host", "PUBLISH_BASE_URL=https:///x\n", nil,
			[]string{"PUBLISH_BASE_URL", "has no host"}},
		{"patch URL", "S1B_EXTRA_KERNEL_PATCH_URLS=https://example.org/a.patch notaurl\n", nil,
			[]string{"S1B_EXTRA_KERNEL_PATCH_URLS", `"notaurl"`}},
		{"URL with credentials", "S1B_KERNEL_URL=https://u:p@example.org/\n", nil,
			[]string{"S1B_KERNEL_URL", "credentials"}},
		{"bad idle timeout", "FETCH_IDLE_TIMEOUT=soon\n", nil,
			[]string{".config:1", "FETCH_IDLE_TIMEOUT", "30s"}},
		{"zero idle timeout", "", map[string]string{"FETCH_IDLE_TIMEOUT": "0s"},
			[]string{"environment", "FETCH_IDLE_TIMEOUT", "positive duration"}},
		{"bad cert host", "CERT_HOSTS=localhost,bad_host!!\n", nil,
			[]string{".config:1", `CERT_HOSTS entry "bad_host!!"`, `contains "_"`}},
		{"cert host with a leading dash", "CERT_HOSTS=-x.example.org\n", nil,
			[]string{`CERT_HOSTS entry "-x.example.org"`, "not a host name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.dotconfig, tt.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// The documented escape and the accepted spellings.
func TestConfigValuesAccepted(t *testing.T) {
	tests := []struct {
		name      string
		dotconfig string
		key, want string
	}{
		{"dollar escape", "KEY_USE_COMMENT=costs 5$$\n", "KEY_USE_COMMENT", "costs 5$"},
		{"escape before a brace", "KEY_USE_COMMENT='$${ACI_REGISTRY}'\n", "KEY_USE_COMMENT", "${ACI_REGISTRY}"},
		{"short reference", "KEY_USE_COMMENT=$ROOTFS_ARCH-x\n", "KEY_USE_COMMENT", "amd64-x"},
		{"image-name prefix in CERT_HOSTS", "ACI_REGISTRY=example.com/me\n", "CERT_HOSTS", "localhost,127.0.0.1,::1,example.com/me"},
		{"wildcard host", "CERT_HOSTS=*.example.org\n", "CERT_HOSTS", "*.example.org"},
		{"epoch", "SOURCE_DATE_EPOCH=0\n", "SOURCE_DATE_EPOCH", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.dotconfig, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := c.Value(tt.key); v != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, v, tt.want)
			}
		})
	}
	c, err := load(t, "ACI_REGISTRY=example.com/me\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.CertHosts, ","); got != "localhost,127.0.0.1,::1,example.com" {
		t.Errorf("CertHosts = %q, want the host part of the image-name prefix", got)
	}
}

// FuzzParse feeds arbitrary .config files through Load: it must never
// panic, and whatever it accepts must not hold an unexpanded reference.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "testdata", "config", "fuzz-seed-*.config"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("S1B_OUT_DIR=${S1B_OUT_DIR\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, dotconfig string) {
		if err := os.WriteFile(filepath.Join(dir, UserFile), []byte(dotconfig), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Options{Dir: dir, LookupEnv: envOf(nil)})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, k := range Keys() {
			v, ok := c.Value(k)
			if !ok {
				t.Fatalf("accepted config lost key %s", k)
			}
			_ = v
		}
	})
}
