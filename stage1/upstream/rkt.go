package upstream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/step"
)

// GoPrograms are rkt's stage1 Go programs for the kvm flavor, by package
// directory; each is installed at /<base name>.
var GoPrograms = []string{
	"stage1/init", "stage1/gc", "stage1/enter_kvm", "stage1/stop_kvm",
	"stage1/app_add", "stage1/app_rm", "stage1/app_start", "stage1/app_stop",
	"stage1/attach", "stage1/iottymux",
}

// CgoPrograms are the GoPrograms that import pkg/acl (cgo).
var CgoPrograms = map[string]bool{
	"stage1/init": true, "stage1/app_add": true, "stage1/app_rm": true, "stage1/app_start": true,
	"stage1/app_stop": true, "stage1/attach": true, "stage1/iottymux": true,
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

// BuildRktPrograms builds the stage1 programs from the rkt tree src (from
// rkt.Source) into
// out: the Go programs and C programs at out/<name>, the CNI plugins at
// out/plugins/<name>.
func BuildRktPrograms(ctx context.Context, src, version, out string) error {
	// go build runs in src: the output directory must not be relative.
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "plugins"), 0o755); err != nil {
		return err
	}
	env := append(rkt.BuildEnv(), "GOOS=linux", "GOARCH=amd64")
	ld := "-s -w -buildid= -X " + rkt.Module + "/version.Version=" + version
	// Programs that import rkt's pkg/acl (init and what shares its
	// common package) need cgo, as in rkt's own build: they link the
	// C library dynamically (on the host for init and app_*, in the pod for
	// iottymux, which has the distribution's libc). The rest are static.
	var dynamic, static []string
	for _, p := range GoPrograms {
		if CgoPrograms[p] {
			dynamic = append(dynamic, "./"+p)
		} else {
			static = append(static, "./"+p)
		}
	}
	builds := []struct {
		cgo  string
		pkgs []string
	}{{"CGO_ENABLED=1", dynamic}, {"CGO_ENABLED=0", static}}
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
	err = step.Cmd{Dir: src, Env: append(env, "CGO_ENABLED=0"), Jobs: 1}.
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
