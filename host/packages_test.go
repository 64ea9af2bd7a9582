package host

import (
	"context"
	"errors"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"reflect"
	"strings"
	"testing"
)

func TestPackagesEnsure(t *testing.T) {
	ctx := context.Background()
	yes, no := true, false
	for _, tc := range []struct {
		name       string
		have       map[string]bool
		root       *bool
		installErr error
		installs   bool // install makes the packages present
		wantErr    string
		wantCall   []string
	}{
		{name: "all present", have: map[string]bool{"meson": true, "gperf": true, "libseccomp-dev": true}, root: &no},
		{name: "missing, not root", have: map[string]bool{"meson": true}, root: &no,
			wantErr: "missing build dependencies for the static systemd-nspawn: gperf, libseccomp-dev; install them with `sudo apt-get install -y --no-install-recommends gperf libseccomp-dev`"},
		{name: "missing, root installs", have: map[string]bool{"meson": true}, root: &yes, installs: true,
			wantCall: []string{"gperf", "libseccomp-dev"}},
		{name: "missing, root, install fails", have: map[string]bool{"meson": true}, root: &yes, installErr: errors.New("no network"),
			wantCall: []string{"gperf", "libseccomp-dev"}, wantErr: "installing the build dependencies for the static systemd-nspawn: no network"},
		{name: "missing, root, still missing after install", have: map[string]bool{"meson": true}, root: &yes,
			wantCall: []string{"gperf", "libseccomp-dev"}, wantErr: "missing build dependencies for the static systemd-nspawn: gperf, libseccomp-dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := map[string]bool{}
			for k, v := range tc.have {
				have[k] = v
			}
			var called []string
			d := Packages{
				What:      "build dependencies for the static systemd-nspawn",
				Installed: func(_ context.Context, p string) bool { return have[p] },
				Root:      tc.root,
				Install: func(_ context.Context, pkgs ...string) error {
					called = append(called, pkgs...)
					if tc.installs {
						for _, p := range pkgs {
							have[p] = true
						}
					}
					return tc.installErr
				},
			}
			err := d.Ensure(ctx, []string{"meson", "libseccomp-dev", "gperf"})
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(called, tc.wantCall) {
				t.Errorf("installed %v, want %v", called, tc.wantCall)
			}
		})
	}
}

func TestInstalledAsksDpkg(t *testing.T) {
	ctx := context.Background()
	if !Installed(ctx, "dpkg") {
		testenv.Skip(t, "needs a Debian host (dpkg-query)")
	}
	if Installed(ctx, "rktbuild-no-such-package") {
		t.Error("a package that does not exist is reported installed")
	}
}
