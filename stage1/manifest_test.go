package stage1

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/kernel"
)

func TestParseRktVersion(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"1.30.0", "1.30.0", ""},
		{"v1.26.0", "1.26.0", ""},
		{"1.28", "1.28.0", ""},
		{"1.1.0", "", "not supported"},
		{"latest", "", "expected MAJOR.MINOR.PATCH"},
		{"1.30.0-rc1", "", "expected MAJOR.MINOR.PATCH"},
	}
	for _, tt := range tests {
		v, err := ParseRktVersion(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParseRktVersion(%q) error %v, want %q naming the input", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || v.String() != tt.want {
			t.Errorf("ParseRktVersion(%q) = %v, %v; want %s", tt.in, v, err, tt.want)
		}
	}
}

// TestAnnotations checks the annotation rules against what each rkt
// release's stage1/aci/aci-manifest.in had, for the kvm flavor.
func TestAnnotations(t *testing.T) {
	tests := []struct {
		rkt    string
		want   string // name=value, space separated, prefix stripped
		kernel string
	}{
		{"1.2.0", "run=/init enter=/enter_kvm gc=/gc interface-version=2", "/bzImage"},
		{"1.10.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm interface-version=2", "/bzImage"},
		{"1.13.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm interface-version=3", "/bzImage"},
		{"1.15.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm interface-version=4", "/bzImage"},
		{"1.16.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/rm=/app-rm app/start=/app-start app/stop=/app-stop interface-version=4", "/bzImage"},
		{"1.19.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app-add app/rm=/app-rm app/start=/app-start app/stop=/app-stop interface-version=5", "/bzImage"},
		{"1.22.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app-add app/rm=/app-rm app/start=/app-start app/stop=/app-stop interface-version=5", "/bzImage"},
		{"1.23.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop interface-version=5", "/bzImage"},
		{"1.24.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop attach=/attach interface-version=5", "/bzImage"},
		{"1.26.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop attach=/attach interface-version=5", "/bzImage"},
		{"1.27.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop attach=/attach interface-version=5", "/kernel_image"},
		{"1.28.1", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop attach=/attach interface-version=5", "/kernel_image"},
		{"1.29.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop attach=/attach interface-version=6", "/kernel_image"},
		{"1.30.0", "run=/init enter=/enter_kvm gc=/gc stop=/stop_kvm app/add=/app_add app/rm=/app_rm app/start=/app_start app/stop=/app_stop attach=/attach interface-version=6", "/kernel_image"},
	}
	for _, tt := range tests {
		v, err := ParseRktVersion(tt.rkt)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range Annotations(v) {
			got = append(got, strings.TrimPrefix(a.Name.String(), annotationPrefix)+"="+a.Value)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("rkt %s annotations:\n got %s\nwant %s", tt.rkt, strings.Join(got, " "), tt.want)
		}
		if KernelPath(v) != tt.kernel {
			t.Errorf("rkt %s kernel path %s, want %s", tt.rkt, KernelPath(v), tt.kernel)
		}
	}
}

// TestManifestGolden compares the full manifest per rkt version (and the
// flattened variant) with testdata/stage1/manifest-*.json.
func TestManifestGolden(t *testing.T) {
	for _, tt := range []struct {
		rkt       string
		flattened bool
	}{{"1.22.0", false}, {"1.26.0", false}, {"1.27.0", false}, {"1.30.0", false}, {"1.30.0", true}} {
		v, _ := ParseRktVersion(tt.rkt)
		m, err := NewManifest(ManifestOptions{Name: "aci.rktbuild.local/rkt/stage1-kvm", Rkt: v, KernelRelease: "6.1.192-rktbuild-v1"})
		if tt.flattened {
			m, err = NewManifest(ManifestOptions{Name: "aci.rktbuild.local/rkt/stage1-kvm", Rkt: v, KernelRelease: "6.1.192-rktbuild-v1", Flattened: true})
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := aci.MarshalManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		name := "manifest-" + tt.rkt + ".json"
		if tt.flattened {
			name = "manifest-" + tt.rkt + "-flattened.json"
		}
		golden := filepath.Join("..", "testdata", "stage1", name)
		testutil.Golden(t, golden, append(b, '\n'))
		if got, _ := m.GetLabel("kernelversion"); got != "6.1.192-rktbuild-v1" {
			t.Errorf("kernelversion label %q", got)
		}
		if tt.flattened != (len(m.Dependencies) == 0) {
			t.Errorf("flattened=%v but dependencies %v", tt.flattened, m.Dependencies)
		}
	}
	for _, bad := range []ManifestOptions{
		{Name: "Not A Name", Rkt: RktVersion{1, 30, 0}, KernelRelease: "6.1"},
		{Name: "x.test/s1", Rkt: RktVersion{1, 30, 0}},
	} {
		if _, err := NewManifest(bad); err == nil {
			t.Errorf("NewManifest(%+v) accepted", bad)
		}
	}
}

func TestDropIn(t *testing.T) {
	got := DropIn("6.1.192-rktbuild-v1")
	want := "[Service]\n" +
		"ExecStartPost=/usr/bin/mkdir -p %I/lib/modules/6.1.192-rktbuild-v1\n" +
		"ExecStartPost=/usr/bin/mount --bind /lib/modules/6.1.192-rktbuild-v1 %I/lib/modules/6.1.192-rktbuild-v1\n"
	if got != want {
		t.Errorf("drop-in:\n%s\nwant:\n%s", got, want)
	}
	if FileName(RktVersion{1, 30, 0}, "6.1.192-rktbuild-v1") != "stage1-kvm-1.30.0-linux-6.1.192-rktbuild-v1.aci" {
		t.Error(FileName(RktVersion{1, 30, 0}, "6.1.192-rktbuild-v1"))
	}
}

func TestQemuArgs(t *testing.T) {
	got := strings.Join(QemuArgs("tcg", "/k/bzImage", "/r"), " ")
	for _, want := range []string{
		"-accel tcg", "-no-reboot", "-kernel /k/bzImage",
		"-fsdev local,id=root,path=/r,security_model=none",
		"-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root",
		"root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,cache=mmap rw console=ttyS0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("qemu args lack %q:\n%s", want, got)
		}
	}
}

func TestKernelSourceAnnotations(t *testing.T) {
	tests := []struct {
		name string
		rec  kernel.SourceRecord
		want map[string]string
	}{
		{"distro", kernel.SourceRecord{Kind: "distro", Package: "linux-source-6.1", Version: "6.1.119-1", SHA256: "ab"},
			map[string]string{"kind": "distro", "package": "linux-source-6.1", "version": "6.1.119-1", "sha256": "ab"}},
		{"kernel.org", kernel.SourceRecord{Kind: "kernelorg", URL: "https://k/v6.x/linux-6.1.112.tar.xz", SHA256: "cd"},
			map[string]string{"kind": "kernelorg", "url": "https://k/v6.x/linux-6.1.112.tar.xz", "sha256": "cd"}},
		{"local tree", kernel.SourceRecord{Kind: "local", URL: "linux"}, map[string]string{"kind": "local", "url": "linux"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewManifest(ManifestOptions{Name: "example.com/stage1", Rkt: RktVersion{1, 30, 0}, KernelRelease: "6.1.119", KernelSource: &tt.rec})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range m.Annotations {
				k, ok := strings.CutPrefix(a.Name.String(), "rktbuild.io/kernel-source-")
				if !ok {
					continue
				}
				n++
				if tt.want[k] != a.Value {
					t.Errorf("%s = %q, want %q", a.Name, a.Value, tt.want[k])
				}
			}
			if n != len(tt.want) {
				t.Errorf("%d kernel-source annotations, want %d: %v", n, len(tt.want), m.Annotations)
			}
			if _, ok := m.Annotations.Get("coreos.com/rkt/stage1/run"); !ok {
				t.Error("the stage1 annotations are gone")
			}
		})
	}
}
