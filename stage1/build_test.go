package stage1

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testenv"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

func write(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
}

// fakeKernel lays out what kernel.Build produces: a bzImage and a headers
// root (the real ones are built by the e2e test).
func fakeKernel(t *testing.T, release string) *kernel.Result {
	dir := t.TempDir()
	k := &kernel.Result{Release: release, Image: filepath.Join(dir, "bzImage"), Headers: filepath.Join(dir, "headers")}
	write(t, k.Image, "fake bzImage for "+release, 0o644)
	mod := filepath.Join(k.Headers, kernel.ModulesDir(release))
	write(t, filepath.Join(mod, "include/linux/types.h"), "/* uapi */\n", 0o644)
	write(t, filepath.Join(mod, "source/include/linux/kernel.h"), "/* kernel */\n", 0o644)
	write(t, filepath.Join(mod, "source/include/generated/autoconf.h"), "#define CONFIG_9P_FS 1\n", 0o644)
	return k
}

// TestBuild assembles, packs, validates and signs a stage1 image from a
// fake kernel, checks its layout and manifest, and that a second build is
// a no-op.
func TestBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build the static mkdir")
	}
	work := t.TempDir()
	ctx := step.WithStampDir(context.Background(), filepath.Join(work, "stamps"))
	keyBase := filepath.Join(work, "keys", "test")
	if _, err := sign.GenKey(keyBase, sign.Identity{Name: "stage1 test", Comment: "test key", Email: "t@example.test"}, 2048, nil); err != nil {
		t.Fatal(err)
	}
	release := "6.1.192-rktbuild-v1"
	for _, rkt := range []string{"1.26.0", "1.30.0"} {
		t.Run(rkt, func(t *testing.T) {
			v, _ := ParseRktVersion(rkt)
			o := Options{
				Kernel: fakeKernel(t, release), Rkt: v, Name: "aci.rktbuild.local/rkt/stage1-kvm",
				OutDir: filepath.Join(work, "out"), WorkDir: filepath.Join(work, "stage1"),
				Pack:       aci.PackOptions{Epoch: 1700000000, HasEpoch: true, ForceRoot: true},
				Sign:       func(ctx context.Context, f string) error { return sign.SignFile(f, keyBase+".key.asc", nil) },
				SignInputs: []string{keyBase + ".pub.asc"},
			}
			b, err := Build(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(b.File) != "stage1-kvm-"+rkt+"-linux-"+release+".aci" || !strings.HasPrefix(b.ID, "sha512-") {
				t.Fatalf("built %s id %s", b.File, b.ID)
			}
			if err := aci.Validate(b.File); err != nil {
				t.Fatal(err)
			}
			if id, err := aci.ImageID(b.File); err != nil || id != b.ID {
				t.Errorf("image id %s, %v; Build said %s", id, err, b.ID)
			}
			if signer, err := sign.VerifyFile(b.File, b.File+".asc", keyBase+".pub.asc"); err != nil || !strings.Contains(signer, "stage1 test") {
				t.Errorf("signature: %q, %v", signer, err)
			}
			m, err := aci.ReadManifest(b.File)
			if err != nil {
				t.Fatal(err)
			}
			if kv, _ := m.GetLabel("kernelversion"); kv != release || len(m.Dependencies) != 1 || m.Dependencies[0].ImageName.String() != UpstreamName {
				t.Errorf("manifest labels/dependencies wrong: %+v %+v", m.Labels, m.Dependencies)
			}
			x := filepath.Join(t.TempDir(), "x")
			if err := aci.Extract(ctx, b.File, x); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(x, "rootfs")
			kimg, err := os.ReadFile(filepath.Join(root, KernelPath(v)))
			if err != nil || string(kimg) != "fake bzImage for "+release {
				t.Errorf("kernel at %s: %q %v", KernelPath(v), kimg, err)
			}
			other := map[string]string{"/bzImage": "/kernel_image", "/kernel_image": "/bzImage"}[KernelPath(v)]
			if _, err := os.Stat(filepath.Join(root, other)); err == nil {
				t.Errorf("kernel also at %s", other)
			}
			for _, f := range []string{"usr/lib/modules/" + release + "/include/linux/types.h", "usr/lib/modules/" + release + "/source/include/generated/autoconf.h"} {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("headers: %v", err)
				}
			}
			d, _ := os.ReadFile(filepath.Join(root, DropInPath))
			if string(d) != DropIn(release) {
				t.Errorf("drop-in %q", d)
			}
			// The static mkdir works (run on the host: same arch).
			mk := filepath.Join(root, MkdirPath)
			target := filepath.Join(t.TempDir(), "a", "lib", "modules", release)
			if out, err := exec.Command(mk, "-p", target).CombinedOutput(); err != nil {
				t.Fatalf("static mkdir: %v %s", err, out)
			}
			if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
				t.Errorf("mkdir -p did not create %s", target)
			}
			if out, err := exec.Command("file", mk).Output(); err != nil {
				testenv.Missing(t, "needs file(1) to check that mkdir is static (apt-get install file): ", err)
			} else if !strings.Contains(string(out), "statically linked") {
				t.Errorf("mkdir is not static: %s", out)
			}

			// Unchanged inputs: nothing runs, same file and id.
			before, _ := os.Stat(b.File)
			b2, err := Build(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := os.Stat(b.File)
			if b2.ID != b.ID || !after.ModTime().Equal(before.ModTime()) {
				t.Errorf("second build repacked: %s vs %s", b2.ID, b.ID)
			}
		})
	}
}

// TestBuildFlattened renders a synthetic upstream stage1-kvm (shaped like
// rkt's: stage1 entry points, a kernel of its own) with our layer.
func TestBuildFlattened(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build the static mkdir")
	}
	work := t.TempDir()
	ctx := step.WithStampDir(context.Background(), filepath.Join(work, "stamps"))
	v, _ := ParseRktVersion("1.30.0")
	up := filepath.Join(work, "upstream-rootfs")
	write(t, filepath.Join(up, "init"), "#!upstream init\n", 0o755)
	write(t, filepath.Join(up, "enter_kvm"), "#!upstream enter\n", 0o755)
	write(t, filepath.Join(up, "kernel_image"), "upstream kernel", 0o644)
	um, err := aci.NewManifest(UpstreamName, map[string]string{"version": "1.30.0", "os": "linux", "arch": "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	um.Annotations = Annotations(v)
	upACI := filepath.Join(work, "stage1-kvm.aci")
	if _, err := aci.PackRootfs(ctx, um, up, upACI, aci.PackOptions{}); err != nil {
		t.Fatal(err)
	}
	release := "6.1.192-rktbuild-v1"
	o := Options{Kernel: fakeKernel(t, release), Rkt: v, Name: "aci.rktbuild.local/rkt/stage1-kvm",
		OutDir: filepath.Join(work, "out"), WorkDir: filepath.Join(work, "stage1"), UpstreamACI: upACI}
	b, err := Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := aci.ReadManifest(b.File)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Dependencies) != 0 {
		t.Errorf("flattened image has dependencies %v", m.Dependencies)
	}
	x := filepath.Join(t.TempDir(), "x")
	if err := aci.Extract(ctx, b.File, x); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(x, "rootfs", "kernel_image")); string(got) != "fake bzImage for "+release {
		t.Errorf("our kernel must win over upstream's, got %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(x, "rootfs", "init")); string(got) != "#!upstream init\n" {
		t.Errorf("upstream init missing: %q", got)
	}

	// A different upstream version is refused, naming both.
	o.Rkt, _ = ParseRktVersion("1.29.0")
	if _, err := Build(ctx, o); err == nil || !strings.Contains(err.Error(), "1.30.0") || !strings.Contains(err.Error(), "1.29.0") {
		t.Errorf("version mismatch: %v", err)
	}
}

// TestCheckLayout: a layer directory where the upstream has a symlink is
// refused (it would hide the link when rkt renders the layer over it);
// directories under the link's target and new top-level entries are fine.
func TestCheckLayout(t *testing.T) {
	tests := []struct {
		name  string
		layer []string // directories in the layer
		err   string
	}{
		{"headers under usr/lib", []string{"usr/lib/modules/6.12.0", "etc/systemd/system"}, ""},
		{"real /lib hides lib -> usr/lib", []string{"lib/modules/6.12.0", "usr/bin"}, "/lib (upstream: /lib -> usr/lib)"},
		{"real /bin too", []string{"bin", "lib"}, "/bin (upstream: /bin -> usr/bin), /lib (upstream: /lib -> usr/lib)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, layer := t.TempDir(), t.TempDir()
			for _, l := range [][2]string{{"usr/lib", "lib"}, {"usr/bin", "bin"}} {
				os.MkdirAll(filepath.Join(up, l[0]), 0o755)
				os.Symlink(l[0], filepath.Join(up, l[1]))
			}
			for _, d := range tc.layer {
				os.MkdirAll(filepath.Join(layer, d), 0o755)
			}
			err := CheckLayout(up, layer)
			if tc.err == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}
