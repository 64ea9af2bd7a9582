package depcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/rktbuild/rktbuild"

// layers lists the module's packages from low to high; a package may import
// its own layer and lower ones. A pattern ending in "/*" matches every
// package below that directory.
var layers = [][]string{
	{"internal/*", "config", "deb", "remotecache", "patch", "scripts"},
	{"step", "host"},
	{"format/*", "sign", "sbom"},
	{"nspawn", "rootfs", "kernel", "rkt", "registry/*"},
	{"nspawn/static", "stage1", "stage1/upstream", "image", "recipes"},
	{"bench"},
	{"targets"},
	// Programs: mage's entry point, commands, the programs stage1 ships
	// and the end-to-end tests.
	{"magefiles", "cmd/*", "stage1/mkdir", "stage1/qemuwrap", "stage1/smokeinit", "e2e"},
}

// configUsers are the only packages that may import config: the command
// layer, which maps the configuration to each package's typed options.
var configUsers = []string{"targets", "cmd/*", "magefiles", "bench"}

// forbidden are same-layer imports that still run the wrong way.
var forbidden = map[string][]string{
	// Running commands in a rootfs belongs to nspawn; rootfs builds trees.
	"rootfs": {"nspawn"},
}

// allowed lists exactly today's violations; an entry that no longer
// occurs fails the test, so the list only shrinks.
var allowed = map[string]bool{
	// Empty: every domain package takes typed options. Add an entry only
	// with a comment saying why and when it goes.
}

// pkg is the part of `go list -json` the test reads.
type pkg struct {
	ImportPath string
	Imports    []string
}

func TestLayers(t *testing.T) {
	pkgs, err := listPackages("mage", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages; is the test run inside the module?", len(pkgs))
	}
	var bad []string
	seen := map[string]bool{}
	for _, v := range violations(pkgs) {
		seen[v] = true
		if !allowed[v] {
			bad = append(bad, v)
		}
	}
	for v := range allowed {
		if !seen[v] {
			t.Errorf("allowed violation %q no longer occurs: delete it from allowed", v)
		}
	}
	if len(bad) > 0 {
		t.Errorf("imports against the layers (see layers in %s):\n  %s\nmove the code down, or pass typed options instead of config",
			"internal/depcheck/depcheck_test.go", strings.Join(bad, "\n  "))
	}
}

// TestViolations proves the rules report what they should, on made-up
// import graphs.
func TestViolations(t *testing.T) {
	for _, tt := range []struct {
		name string
		pkgs []pkg
		want []string
	}{
		{"clean", []pkg{g("targets", "config", "bench", "step"), g("bench", "config", "sign"), g("sign", "step", "internal/fsutil"), g("magefiles", "targets")}, nil},
		{"domain imports config", []pkg{g("kernel", "config", "step")}, []string{"kernel -> config"}},
		{"domain imports targets", []pkg{g("recipes", "targets")}, []string{"recipes -> targets"}},
		{"import upwards", []pkg{g("format/aci", "rootfs"), g("internal/fsutil", "step")}, []string{"format/aci -> rootfs", "internal/fsutil -> step"}},
		{"forbidden same layer", []pkg{g("rootfs", "nspawn"), g("registry/fetch", "registry/store")}, []string{"rootfs -> nspawn"}},
		{"unknown package", []pkg{g("newthing", "step")}, []string{"newthing: in no layer (add it to layers)"}},
		{"std and third party ignored", []pkg{g("step", "=fmt", "=golang.org/x/term", "=debug/elf")}, nil},
		{"other modules ignored", []pkg{{ImportPath: "example.com/x", Imports: []string{module + "/config"}}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.pkgs)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("violations = %q, want %q", got, tt.want)
			}
		})
	}
}

// g is a made-up package of the module: from imports the module's
// packages named, and "=path" imports path itself (the standard library or
// another module).
func g(from string, imports ...string) pkg {
	p := pkg{ImportPath: module + "/" + from}
	for _, i := range imports {
		if lit, ok := strings.CutPrefix(i, "="); ok {
			p.Imports = append(p.Imports, lit)
		} else {
			p.Imports = append(p.Imports, module+"/"+i)
		}
	}
	return p
}

// violations lists "a -> b" for each import against the rules, sorted.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		lf := layerOf(from)
		if lf < 0 {
			out = append(out, from+": in no layer (add it to layers)")
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue // standard library or another module
			}
			switch lt := layerOf(to); {
			case to == "config" && !matchAny(from, configUsers),
				to == "targets" && from != "magefiles",
				lt > lf,
				contains(forbidden[from], to):
				out = append(out, from+" -> "+to)
			}
		}
	}
	sort.Strings(out)
	return out
}

// layerOf is the index of the layer holding p, or -1.
func layerOf(p string) int {
	for i, l := range layers {
		if matchAny(p, l) {
			return i
		}
	}
	return -1
}

func matchAny(p string, patterns []string) bool {
	for _, pat := range patterns {
		if dir, ok := strings.CutSuffix(pat, "/*"); ok {
			if strings.HasPrefix(p, dir+"/") {
				return true
			}
		} else if p == pat {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// listPackages runs `go list -json` on the module with the build tags
// that select the magefile and the end-to-end tests.
func listPackages(tags ...string) ([]pkg, error) {
	cmd := exec.Command("go", "list", "-tags", strings.Join(tags, ","), "-json", module+"/...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decoding go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}
