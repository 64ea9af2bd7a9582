package config

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, dotconfig string, env map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if dotconfig != "" {
		if err := os.WriteFile(filepath.Join(dir, UserFile), []byte(dotconfig), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Load(Options{Dir: dir, LookupEnv: envOf(env)})
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name       string
		dotconfig  string
		env        map[string]string
		key        string
		want       string
		wantOrigin string
	}{
		{"default", "", nil, "S1B_KERNEL_VERSION_SUFFIX", "-rktbuild-v1", "default"},
		{"dotconfig over default", "S1B_KERNEL_VERSION_SUFFIX=-mine\n", nil, "S1B_KERNEL_VERSION_SUFFIX", "-mine", "file"},
		{"env over dotconfig", "S1B_KERNEL_VERSION_SUFFIX=-mine\n", map[string]string{"S1B_KERNEL_VERSION_SUFFIX": "-env"}, "S1B_KERNEL_VERSION_SUFFIX", "-env", "environment"},
		{"empty env still wins", "ROOTFS_SUITE=bookworm\n", map[string]string{"ROOTFS_SUITE": ""}, "ROOTFS_SUITE", "", "environment"},
		{"quoted value", `KEY_USE_NAME="Jane Doe"`, nil, "KEY_USE_NAME", "Jane Doe", "file"},
		{"single quotes", `KEY_USE_COMMENT='a # b'`, nil, "KEY_USE_COMMENT", "a # b", "file"},
		{"trailing comment", "ROOTFS_SUITE=bookworm # tests\n", nil, "ROOTFS_SUITE", "bookworm", "file"},
		{"export prefix", "export ROOTFS_SUITE=trixie\n", nil, "ROOTFS_SUITE", "trixie", "file"},
		{"reference expands", "ACI_REGISTRY=example.com/me\n", nil, "S1B_STAGE1_NAME", "example.com/me/rkt/stage1-kvm", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.dotconfig, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := c.Value(tt.key); v != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, v, tt.want)
			}
			if o := c.SourceOf(tt.key).Origin; o != tt.wantOrigin {
				t.Errorf("%s origin = %q, want %q", tt.key, o, tt.wantOrigin)
			}
		})
	}
}

func TestTypedFields(t *testing.T) {
	c, err := load(t, "ROOTFS_PACKAGES=git, make gcc\nS1B_JOBS=3\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.RootfsPackages, "|"); got != "git|make|gcc" {
		t.Errorf("RootfsPackages = %q", got)
	}
	if c.Jobs != 3 {
		t.Errorf("Jobs = %d", c.Jobs)
	}
	c, err = load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Jobs != runtime.NumCPU() {
		t.Errorf("default Jobs = %d, want NumCPU %d", c.Jobs, runtime.NumCPU())
	}
	if c.UpstreamStage1Version != "1.30.0" || c.RootfsSuite != "xenial" {
		t.Errorf("defaults: stage1 %q suite %q", c.UpstreamStage1Version, c.RootfsSuite)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name      string
		dotconfig string
		env       map[string]string
		want      []string
	}{
		{"unknown key", "ROOTFS_SUITE=bookworm\nS1B_KERNEL_VERISON=6.1\n", nil,
			[]string{".config:2", "unknown key S1B_KERNEL_VERISON", "builder-config"}},
		{"malformed line", "# ok\nROOTFS_SUITE bookworm\n", nil,
			[]string{".config:2", "malformed line", "KEY=VALUE"}},
		{"unterminated quote", "KEY_USE_NAME=\"Jane\n", nil,
			[]string{".config:1", "KEY_USE_NAME", "unterminated quote"}},
		{"bad jobs", "", map[string]string{"S1B_JOBS": "many"},
			[]string{"environment", "S1B_JOBS=\"many\"", "whole number"}},
		{"unknown reference", "S1B_STAGE1_NAME=${NOPE}/x\n", nil,
			[]string{".config:1", "S1B_STAGE1_NAME", "${NOPE}"}},
		{"self reference", "ACI_REGISTRY=${S1B_STAGE1_NAME}\n", nil,
			[]string{"refers to itself"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.dotconfig, tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRequireNamesMissingKeys(t *testing.T) {
	c, err := load(t, "KEY_USE_EMAIL=\nKEY_USE_NAME=\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Require("KEY_USE_NAME", "KEY_USE_COMMENT", "KEY_USE_EMAIL")
	want := "missing KEY_USE_EMAIL, KEY_USE_NAME: set it in the environment or in .config"
	if err == nil || err.Error() != want {
		t.Errorf("Require = %v, want %q", err, want)
	}
}

func TestEpoch(t *testing.T) {
	c, _ := load(t, "", map[string]string{"SOURCE_DATE_EPOCH": "1700000000"})
	if n, ok, err := c.Epoch(); n != 1700000000 || !ok || err != nil {
		t.Errorf("Epoch = %d %v %v", n, ok, err)
	}
	// A bad epoch is refused by Load itself, so `mage config` reports it.
	if _, err := load(t, "", map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad epoch error: %v", err)
	}
}

// TestEveryKeyHasAField keeps builder-config and the struct in step.
func TestEveryKeyHasAField(t *testing.T) {
	c, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c.Print(&buf)
	golden := filepath.Join("..", "testdata", "config", "defaults.golden")
	got := buf.String()
	testutil.Golden(t, golden, []byte(got))
}
