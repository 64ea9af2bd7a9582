package rkt

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestDependencies(t *testing.T) {
	deps, err := Dependencies()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Dependency{}
	for _, d := range deps {
		if _, dup := byPath[d.Path]; dup {
			t.Errorf("module %s listed twice", d.Path)
		}
		byPath[d.Path] = d
	}
	for _, tc := range []struct {
		path, version string
		stage1Only    bool
	}{
		{"github.com/appc/spec", "v0.8.11", false},
		{"github.com/cznic/mathutil", "v0.0.0-20150216133129-f9551431b78e", false},
		{"golang.org/x/sys", "v0.0.0-20160610012207-b44883b474ff", false},
		{"github.com/godbus/dbus", "v4.0.0+incompatible", true},
		{"golang.org/x/tools", "v0.0.0-20180917221912-90fa682c2a6e", true},
		{"github.com/vishvananda/netlink", "v0.0.0-20150915170505-ecf47fd5739b", true},
		{"github.com/shirou/gopsutil", "v2.16.10+incompatible", true},
	} {
		d, ok := byPath[tc.path]
		if !ok {
			t.Errorf("%s missing", tc.path)
			continue
		}
		if d.Version != tc.version || d.Stage1Only != tc.stage1Only {
			t.Errorf("%s = %s stage1Only=%v, want %s stage1Only=%v", tc.path, d.Version, d.Stage1Only, tc.version, tc.stage1Only)
		}
	}
}

func TestParseModulesErrors(t *testing.T) {
	for _, tc := range []struct{ name, tsv, want string }{
		{"no version", "header\ngithub.com/a/b\n", "modules.tsv:2: want MODULE<TAB>VERSION<TAB>NOTE"},
		{"unserved without substitute", "header\ngithub.com/a/b\t(pinned 123: refused)\tx\n", "github.com/a/b has no served version"},
		{"empty", "header\n", "lists no modules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseModules([]byte(tc.tsv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestGoModGolden pins the generated go.mod: every module required and
// replaced by its pinned version.
func TestGoModGolden(t *testing.T) {
	deps, err := Dependencies()
	if err != nil {
		t.Fatal(err)
	}
	got := GoMod(deps)
	golden := filepath.Join("..", "testdata", "rkt", "go.mod.golden")
	testutil.Golden(t, golden, got)
	for _, d := range deps {
		if !strings.Contains(string(got), "\t"+d.Path+" => "+d.Path+" "+d.Version+"\n") {
			t.Errorf("go.mod does not replace %s with %s", d.Path, d.Version)
		}
	}
}

func TestBuildEnvKeepsGOFLAGS(t *testing.T) {
	t.Setenv("GOFLAGS", "-buildvcs=false")
	env := strings.Join(BuildEnv(), "\n")
	for _, want := range []string{"GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "GO111MODULE=on"} {
		if !strings.Contains(env, want) {
			t.Errorf("BuildEnv() = %q, missing %q", env, want)
		}
	}
}
