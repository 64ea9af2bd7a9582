package upstream

import (
	"bufio"
	"bytes"
	"context"
	_ "embed" // the module pins are embedded
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cp "github.com/otiai10/copy"

	"github.com/rktbuild/rktbuild/step"
)

// RktModule is the module rkt's stage1 programs are built from.
const RktModule = "github.com/rkt/rkt"

//go:embed rkt-1.30.0-modules.tsv
var modulesTSV []byte

// substitutes are the versions used for the two stage1-only pins the
// module proxy does not serve (see the notes in rkt-1.30.0-modules.tsv).
var substitutes = map[string]string{
	"github.com/godbus/dbus": "v4.0.0+incompatible",
	"golang.org/x/tools":     "v0.1.0",
}

// Pins parses the module pin table: module, version, note; '#' lines are
// comments; a version in parentheses is a pin the proxy refuses, replaced
// by substitutes.
func Pins(tsv []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(tsv))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 || strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			return nil, fmt.Errorf("module pins line %d: expected module<TAB>version", n)
		}
		mod, ver := f[0], f[1]
		if strings.HasPrefix(ver, "(") {
			s, ok := substitutes[mod]
			if !ok {
				return nil, fmt.Errorf("module pins line %d: %s has no servable version and no substitute", n, mod)
			}
			ver = s
		}
		out = append(out, [2]string{mod, ver})
	}
	return out, sc.Err()
}

// GoMod returns the go.mod that builds rkt's tree (which has none) with
// the pinned modules.
func GoMod(pins [][2]string) []byte {
	var b strings.Builder
	b.WriteString("module " + RktModule + "\n\ngo 1.12\n\nrequire (\n")
	for _, p := range pins {
		fmt.Fprintf(&b, "\t%s %s\n", p[0], p[1])
	}
	b.WriteString(")\n")
	return []byte(b.String())
}

// FetchRkt downloads rkt's source at version through the Go module proxy
// (checked against the checksum database like any module) and copies it,
// writable and with a generated go.mod, to dir (which must not exist).
func FetchRkt(ctx context.Context, version, dir string) error {
	var out bytes.Buffer
	err := step.Cmd{Stdout: &out, Env: []string{"GOFLAGS=-mod=mod", "GOWORK=off"}}.
		Run(ctx, "go", "mod", "download", "-json", RktModule+"@"+version)
	if err != nil {
		return fmt.Errorf("downloading %s@%s from the Go module proxy: %w", RktModule, version, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return fmt.Errorf("go mod download %s@%s: %w", RktModule, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return fmt.Errorf("go mod download %s@%s: %s", RktModule, version, info.Error)
	}
	if err := cp.Copy(info.Dir, dir, cp.Options{PermissionControl: cp.AddPermission(0o200)}); err != nil {
		return fmt.Errorf("copying rkt's source: %w", err)
	}
	pins, err := Pins(modulesTSV)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "go.mod"), GoMod(pins), 0o644)
}

// GoPrograms are rkt's stage1 Go programs for the kvm flavor, by package
// directory; each is installed at /<base name>. init needs cgo (pkg/acl).
var GoPrograms = []string{
	"stage1/init", "stage1/gc", "stage1/enter_kvm", "stage1/stop_kvm",
	"stage1/app_add", "stage1/app_rm", "stage1/app_start", "stage1/app_stop",
	"stage1/attach", "stage1/iottymux",
}

// NetPlugins are the CNI plugins rkt's stage1 ships in
// /usr/lib/rkt/plugins/net (stage1/net-plugins/net-plugins.mk).
var NetPlugins = []string{
	"main/ptp", "main/bridge", "main/macvlan", "main/ipvlan",
	"ipam/host-local", "ipam/dhcp", "meta/flannel", "meta/tuning",
}

// CPrograms are rkt's static C stage1 programs with their extra sources
// (stage1/*/ *.mk, aci_simple_static_c_bin.mk: -Wall -Os -static -s).
var CPrograms = map[string][]string{
	"prepare-app": {"prepare-app/prepare-app.c"},
	"enterexec":   {"enterexec/enterexec.c", "diagnostic/diagnostic-util.c"},
	"diagnostic":  {"diagnostic/diagnostic.c", "diagnostic/diagnostic-util.c"},
}

// BuildRktPrograms builds the stage1 programs from the rkt tree src into
// out: the Go programs and C programs at out/<name>, the CNI plugins at
// out/plugins/<name>.
func BuildRktPrograms(ctx context.Context, src, version, out string) error {
	if err := os.MkdirAll(filepath.Join(out, "plugins"), 0o755); err != nil {
		return err
	}
	env := []string{"GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GOOS=linux", "GOARCH=amd64"}
	ld := "-s -w -buildid= -X " + RktModule + "/version.Version=" + version
	// init needs cgo (pkg/acl dlopens libacl) and runs on the host, as
	// rkt's own build makes it; the others are static.
	var static []string
	for _, p := range GoPrograms {
		if p != "stage1/init" {
			static = append(static, "./"+p)
		}
	}
	builds := []struct {
		cgo  string
		pkgs []string
	}{{"CGO_ENABLED=1", []string{"./stage1/init"}}, {"CGO_ENABLED=0", static}}
	for _, b := range builds {
		err := step.Cmd{Dir: src, Env: append(env, b.cgo), Jobs: 1}.
			Run(ctx, "go", append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=" + ld, "-o", out + "/"}, b.pkgs...)...)
		if err != nil {
			return fmt.Errorf("building rkt's stage1 programs %s: %w", strings.Join(b.pkgs, " "), err)
		}
	}
	var pkgs []string
	for _, p := range NetPlugins {
		pkgs = append(pkgs, "github.com/containernetworking/cni/plugins/"+p)
	}
	err := step.Cmd{Dir: src, Env: append(env, "CGO_ENABLED=0"), Jobs: 1}.
		Run(ctx, "go", append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", filepath.Join(out, "plugins") + "/"}, pkgs...)...)
	if err != nil {
		return fmt.Errorf("building the CNI plugins: %w", err)
	}
	for name, srcs := range CPrograms {
		args := []string{"-Wall", "-Os", "-I", filepath.Join(src, "stage1", "diagnostic"), "-o", filepath.Join(out, name)}
		for _, s := range srcs {
			args = append(args, filepath.Join(src, "stage1", s))
		}
		args = append(args, "-static", "-s")
		if err := (step.Cmd{Jobs: 1}).Run(ctx, "gcc", args...); err != nil {
			return fmt.Errorf("building rkt's static %s: %w", name, err)
		}
	}
	return nil
}
