package rootfs

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"

	"github.com/rktbuild/rktbuild/step"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{
			name: "defaults: no mirror means debootstrap's own",
			o:    Options{Suite: "bookworm", Arch: "amd64", Variant: "minbase", Components: []string{"main"}, CacheDir: "/c"},
			want: []string{"--arch=amd64", "--variant=minbase", "--components=main", "--cache-dir=/c", "bookworm", "/t"},
		},
		{
			name: "everything",
			o: Options{Suite: "xenial", Arch: "amd64", Variant: "minbase", Components: []string{"main", "universe"},
				Packages: []string{"curl", "less"}, Keyring: "/k.gpg", Mirror: "http://mirror.example/ubuntu", CacheDir: "/c"},
			want: []string{"--arch=amd64", "--variant=minbase", "--components=main,universe", "--include=curl,less",
				"--keyring=/k.gpg", "--cache-dir=/c", "xenial", "/t", "http://mirror.example/ubuntu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.Args("/t"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Args =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestInputsChange(t *testing.T) {
	a := Options{Suite: "bookworm", Arch: "amd64"}
	b := a
	b.Packages = []string{"curl"}
	if step.HashValues(a.Inputs().Values) == step.HashValues(b.Inputs().Values) {
		t.Error("adding a package does not change the rootfs inputs")
	}
	c := a
	c.Overlay = "/overlay"
	if got := c.Inputs().Files; len(got) != 1 || got[0] != "/overlay" {
		t.Errorf("overlay files are not inputs: %v", got)
	}
	if a.Inputs().Values["version"] != Version {
		t.Error("the package version is not an input")
	}
}

// scripts makes a debootstrap scripts directory that knows suites.
func scripts(t *testing.T, suites ...string) string {
	d := t.TempDir()
	for _, s := range suites {
		if err := os.WriteFile(filepath.Join(d, s), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestCheckBadInput(t *testing.T) {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		testenv.Skip(t, "needs debootstrap (debootstrap package)")
	}
	good := Options{Suite: "bookworm", Arch: "amd64", Variant: "minbase", Dir: "/d", CacheDir: "/c", ScriptsDir: scripts(t, "bookworm")}
	if err := os.WriteFile(filepath.Join(good.ScriptsDir, "xenial"), []byte("mirror_style release\nkeyring /nonexistent/ubuntu-archive-keyring.gpg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mod     func(*Options)
		path    string
		wantErr string
	}{
		{name: "good", mod: func(*Options) {}},
		{name: "unknown suite", mod: func(o *Options) { o.Suite = "nosuchsuite" }, wantErr: `unknown ROOTFS_SUITE "nosuchsuite"`},
		{name: "empty suite", mod: func(o *Options) { o.Suite = "" }, wantErr: "ROOTFS_SUITE is empty"},
		{name: "suite with path", mod: func(o *Options) { o.Suite = "../etc" }, wantErr: "not a suite name"},
		{name: "mirror without scheme", mod: func(o *Options) { o.Mirror = "mirror.example/debian" }, wantErr: "ROOTFS_MIRROR"},
		{name: "missing keyring", mod: func(o *Options) { o.Keyring = "/nonexistent/keyring.gpg" }, wantErr: "ROOTFS_KEYRING"},
		{name: "bad package", mod: func(o *Options) { o.Packages = []string{"curl;rm"} }, wantErr: "ROOTFS_PACKAGES"},
		{name: "missing debootstrap", mod: func(*Options) {}, path: "empty", wantErr: "install the debootstrap package"},
		{name: "missing suite keyring", mod: func(o *Options) { o.Suite = "xenial" }, wantErr: "keyring /nonexistent/ubuntu-archive-keyring.gpg is missing; install ubuntu-keyring"},
		{name: "configured keyring replaces the suite's", mod: func(o *Options) { o.Suite = "xenial"; o.Keyring = o.ScriptsDir + "/bookworm" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "empty" {
				t.Setenv("PATH", t.TempDir())
			}
			o := good
			tt.mod(&o)
			err := o.Check()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// assertNothingWritten checks that a failed build left neither the rootfs,
// nor a temporary directory beside it, nor a stamp.
func assertNothingWritten(t *testing.T, dir, stamps string) {
	t.Helper()
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("%s exists after a failed build", dir)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left beside the rootfs: %v", left)
	}
	if st, _ := filepath.Glob(filepath.Join(stamps, "*.json")); len(st) > 0 {
		t.Errorf("stamps written for a failed build: %v", st)
	}
}

func TestBuildBadInput(t *testing.T) {
	tmp := t.TempDir()
	stamps := filepath.Join(tmp, "stamps")
	bg := step.WithStampDir(context.Background(), stamps)
	o := Options{Suite: "nosuchsuite", Arch: "amd64", Variant: "minbase", Dir: filepath.Join(tmp, "out", "rootfs"), CacheDir: filepath.Join(tmp, "cache")}
	t.Run("unknown suite", func(t *testing.T) {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			testenv.Skip(t, "needs debootstrap (debootstrap package)")
		}
		_, err := Build(bg, o)
		if err == nil || !strings.Contains(err.Error(), "unknown ROOTFS_SUITE") {
			t.Fatalf("Build = %v, want unknown suite", err)
		}
		assertNothingWritten(t, o.Dir, stamps)
	})
	t.Run("missing debootstrap", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		o := o
		o.Suite = "bookworm"
		_, err := Build(bg, o)
		if err == nil || !strings.Contains(err.Error(), "debootstrap not found in PATH") {
			t.Fatalf("Build = %v, want missing debootstrap", err)
		}
		assertNothingWritten(t, o.Dir, stamps)
	})
	t.Run("unreachable mirror", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testenv.Skip(t, "needs root: debootstrap")
		}
		if _, err := exec.LookPath("debootstrap"); err != nil {
			testenv.Skip(t, "needs debootstrap (debootstrap package)")
		}
		// A loopback port that was just closed: connections are refused.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		o := o
		o.Suite = "bookworm"
		o.Mirror = "http://" + addr + "/debian"
		ctx, cancel := context.WithTimeout(bg, 2*time.Minute)
		defer cancel()
		_, err = Build(ctx, o)
		if err == nil || !strings.Contains(err.Error(), "could not download bookworm from "+o.Mirror) {
			t.Fatalf("Build = %v, want a download error naming the mirror", err)
		}
		t.Log(err)
		assertNothingWritten(t, o.Dir, stamps)
	})
}

func TestMmdebstrapArgs(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{
			name: "defaults: the host's apt sources pick the mirror",
			o:    Options{Suite: "bookworm", Arch: "amd64", Variant: "minbase", Components: []string{"main"}, CacheDir: "/c"},
			want: []string{"--mode=root", "--arch=amd64", "--variant=minbase", "--components=main", "--skip=essential/unlink",
				`--setup-hook=mkdir -p "$1"/var/cache/apt/archives`, "--setup-hook=sync-in /c /var/cache/apt/archives",
				"--customize-hook=sync-out /var/cache/apt/archives /c", "bookworm", "/t"},
		},
		{
			name: "packages, keyring, mirror, no cache",
			o:    Options{Suite: "xenial", Arch: "amd64", Packages: []string{"curl"}, Keyring: "/k.gpg", Mirror: "http://mirror.example/ubuntu"},
			want: []string{"--mode=root", "--arch=amd64", "--include=curl", "--keyring=/k.gpg", "xenial", "/t", "http://mirror.example/ubuntu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.MmdebstrapArgs("/t"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MmdebstrapArgs =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestBuilderChoice(t *testing.T) {
	if _, err := (Options{Builder: "cdebootstrap"}).builder(); err == nil || !strings.Contains(err.Error(), "ROOTFS_BUILDER") {
		t.Errorf("an unknown builder is not refused by name: %v", err)
	}
	for _, b := range []string{"mmdebstrap", "debootstrap"} {
		if got, err := (Options{Builder: b}).builder(); got != b || err != nil {
			t.Errorf("builder %s = %s, %v", b, got, err)
		}
	}
	want := "debootstrap"
	if _, err := exec.LookPath("mmdebstrap"); err == nil {
		want = "mmdebstrap"
	}
	if got, _ := (Options{}).builder(); got != want {
		t.Errorf("auto = %s, want %s (mmdebstrap when installed)", got, want)
	}
	a, b := Options{Builder: "mmdebstrap"}.Inputs(), Options{Builder: "debootstrap"}.Inputs()
	if reflect.DeepEqual(a, b) {
		t.Error("the builder is not part of the rootfs inputs")
	}
}
