package image

import (
	"golang.org/x/sys/unix"

	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/nspawn"
)

func TestParseVolumes(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name    string
		in      string
		want    []Volume
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "host", in: "src,kind=host,source=" + src, want: []Volume{{Name: "src", Kind: "host", Source: src}}},
		{name: "host read-only and empty", in: "src,kind=host,source=" + src + ",readOnly=true scratch,kind=empty",
			want: []Volume{{Name: "src", Kind: "host", Source: src, ReadOnly: true}, {Name: "scratch", Kind: "empty"}}},
		{name: "semicolon separated", in: "a,kind=empty;b,kind=empty", want: []Volume{{Name: "a", Kind: "empty"}, {Name: "b", Kind: "empty"}}},
		{name: "missing source dir", in: "src,kind=host,source=" + filepath.Join(src, "nope"), wantErr: "does not exist"},
		{name: "no kind", in: "src,source=" + src, wantErr: "missing kind"},
		{name: "unknown kind", in: "src,kind=nfs", wantErr: "unknown kind"},
		{name: "host without source", in: "src,kind=host", wantErr: "needs source=PATH"},
		{name: "bad name", in: "Bad_Name,kind=empty", wantErr: "volume name"},
		{name: "duplicate", in: "a,kind=empty a,kind=empty", wantErr: "defined twice"},
		{name: "unknown option", in: "a,kind=empty,size=1G", wantErr: "unknown option size"},
		{name: "bad readOnly", in: "a,kind=empty,readOnly=yes", wantErr: "readOnly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVolumes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVolumes error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseVolumes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMounts(t *testing.T) {
	tests := []struct {
		in      string
		want    []Mount
		wantErr string
	}{
		{in: "volume=src,target=/build", want: []Mount{{Volume: "src", Target: "/build"}}},
		{in: "volume=a,target=/a volume=b,target=target", want: []Mount{{Volume: "a", Target: "/a"}, {Volume: "b", Target: "target"}}},
		{in: "volume=src", wantErr: "needs volume=NAME,target=PATH"},
		{in: "src,target=/x", wantErr: "not KEY=VALUE"},
		{in: "volume=a,target=/a,readOnly=true", wantErr: "unknown option readOnly"},
	}
	for _, tt := range tests {
		got, err := ParseMounts(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseMounts(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseMounts(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func testApp() *types.App {
	return &types.App{
		Exec:             types.Exec{"/entrypoint.sh"},
		User:             "0",
		Group:            "0",
		WorkingDirectory: "/build",
		Environment:      types.Environment{{Name: "PATH", Value: "/usr/bin"}, {Name: "GOPATH", Value: "/go"}},
		MountPoints: []types.MountPoint{
			{Name: *types.MustACName("target"), Path: "/go/bin"},
			{Name: *types.MustACName("config"), Path: "/etc/app", ReadOnly: true},
		},
	}
}

func TestBinds(t *testing.T) {
	app := testApp()
	host := Volume{Name: "target", Kind: "host", Source: "/out"}
	tests := []struct {
		name      string
		vols      []Volume
		mounts    []Mount
		wantBinds []nspawn.Bind
		wantTmpfs []string
		wantErr   string
	}{
		{name: "volume named after mount point", vols: []Volume{host},
			wantBinds: []nspawn.Bind{{Source: "/out", Target: "/go/bin"}}},
		{name: "mount to path", vols: []Volume{{Name: "src", Kind: "host", Source: "/s"}}, mounts: []Mount{{Volume: "src", Target: "/build/"}},
			wantBinds: []nspawn.Bind{{Source: "/s", Target: "/build"}}},
		{name: "mount to mount point name keeps its read-only flag", vols: []Volume{{Name: "cfg", Kind: "host", Source: "/c"}},
			mounts: []Mount{{Volume: "cfg", Target: "config"}}, wantBinds: []nspawn.Bind{{Source: "/c", Target: "/etc/app", ReadOnly: true}}},
		{name: "empty volume is a tmpfs", vols: []Volume{{Name: "scratch", Kind: "empty"}}, mounts: []Mount{{Volume: "scratch", Target: "/scratch"}},
			wantTmpfs: []string{"/scratch"}},
		{name: "mount of unknown volume", mounts: []Mount{{Volume: "nope", Target: "/x"}}, wantErr: "no --volume named nope"},
		{name: "unknown mount point", vols: []Volume{host}, mounts: []Mount{{Volume: "target", Target: "nosuch"}}, wantErr: "nor a mount point"},
		{name: "unmounted volume", vols: []Volume{{Name: "other", Kind: "empty"}}, wantErr: "is not mounted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			binds, tmpfs, err := Binds(app, tt.vols, tt.mounts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Binds error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(binds, tt.wantBinds) || !reflect.DeepEqual(tmpfs, tt.wantTmpfs) {
				t.Errorf("Binds = %+v %v, want %+v %v", binds, tmpfs, tt.wantBinds, tt.wantTmpfs)
			}
		})
	}
}

func TestRunOptions(t *testing.T) {
	m := schema.BlankImageManifest()
	m.Name = *types.MustACIdentifier("example.com/go-builder")
	m.App = testApp()
	r := &Rendered{Dir: "/cache/sha512-x", Manifest: m}
	o, err := RunOptions(r, App{Args: []string{"golang.org/x/tools/cmd/stringer@v0.1.0"}, Env: []string{"GOPATH=/other", "GOPROXY=off"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/entrypoint.sh", "golang.org/x/tools/cmd/stringer@v0.1.0"}; !reflect.DeepEqual(o.Args, want) {
		t.Errorf("Args = %q, want %q", o.Args, want)
	}
	if want := []string{"PATH=/usr/bin", "GOPATH=/other", "GOPROXY=off"}; !reflect.DeepEqual(o.Env, want) {
		t.Errorf("Env = %q, want %q", o.Env, want)
	}
	if o.Root != "/cache/sha512-x/rootfs" || o.WorkDir != "/build" || o.User != "" || !o.Volatile || !strings.HasPrefix(o.MachineName, "go-builder-") {
		t.Errorf("RunOptions = %+v", o)
	}
	o, err = RunOptions(r, App{Exec: []string{"/bin/sh", "-c", "true"}})
	if err != nil || !reflect.DeepEqual(o.Args, []string{"/bin/sh", "-c", "true"}) {
		t.Errorf("exec override: %q, %v", o.Args, err)
	}
	m.App.Exec = nil
	if _, err := RunOptions(r, App{}); err == nil || !strings.Contains(err.Error(), "no exec") {
		t.Errorf("no exec: err = %v", err)
	}
}

func TestMachineName(t *testing.T) {
	a, b := MachineName("example.com/Debian_bookworm.base"), MachineName("example.com/Debian_bookworm.base")
	if a == b {
		t.Error("two runs got the same machine name")
	}
	if !strings.HasPrefix(a, "debian-bookworm-base-") {
		t.Errorf("MachineName = %q", a)
	}
}

// TestBuilderWriteRender builds a small image with the builder API, then
// renders it, reusing the rendering the second time.
func TestBuilderWriteRender(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	rootfs := filepath.Join(tmp, "rootfs-src")
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "hostname"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := FromRootfs(ctx, filepath.Join(tmp, "work"), rootfs, "example.com/tiny")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.WriteFile("/entrypoint.sh", []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755)
	b.Mkdir("/data")
	b.SetExec("/entrypoint.sh", "echo")
	b.SetWorkingDir("/")
	b.SetEnv("PATH", "/bin")
	b.AddMountPoint("data", "/data", false)
	b.AddPort("http", "tcp", 8080)
	b.SetLabel("version", "1.0")
	b.SetAnnotation("authors", "rktbuild")
	b.Remove("/etc/hostname")
	out := filepath.Join(tmp, "aci", "tiny.aci")
	id, err := b.Write(ctx, out, aci.PackOptions{Epoch: 1, HasEpoch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc", "hostname")); err != nil {
		t.Error("the builder changed its source rootfs")
	}
	m, err := aci.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Labels.Get("version"); v != "1.0" || m.App.Exec[0] != "/entrypoint.sh" || len(m.App.Ports) != 1 || len(m.App.MountPoints) != 1 {
		t.Errorf("manifest = %+v", m)
	}
	cache := filepath.Join(tmp, "rendered")
	r, err := Render(ctx, out, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != id || r.Reused {
		t.Errorf("Render id %s reused %v, want %s fresh", r.ID, r.Reused, id)
	}
	if _, err := os.Stat(filepath.Join(r.Rootfs(), "entrypoint.sh")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(r.Rootfs(), "etc", "hostname")); err == nil {
		t.Error("removed file is in the image")
	}
	r2, err := Render(ctx, out, cache, nil)
	if err != nil || !r2.Reused || r2.Dir != r.Dir {
		t.Errorf("second Render = %+v, %v; want the cached rendering", r2, err)
	}
}

func TestBuilderErrorsStick(t *testing.T) {
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := FromRootfs(context.Background(), filepath.Join(tmp, "work"), filepath.Join(tmp, "src"), "example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetLabel("Not A Label", "x")
	b.SetExec("/bin/true")
	out := filepath.Join(tmp, "x.aci")
	if _, err := b.Write(context.Background(), out, aci.PackOptions{}); err == nil || !strings.Contains(err.Error(), "Not A Label") {
		t.Fatalf("Write error = %v, want the bad label", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an image was written despite the error")
	}
	if _, err := FromRootfs(context.Background(), filepath.Join(tmp, "w2"), filepath.Join(tmp, "nope"), "example.com/x"); err == nil || !strings.Contains(err.Error(), "mage rootfs") {
		t.Errorf("FromRootfs of a missing rootfs: %v", err)
	}
}

// TestBuilderWriteDropsDeviceNodes: an image built by a recipe carries no
// device nodes or FIFOs (rkt hangs rendering them) and keeps /dev as an
// empty directory, while the source rootfs keeps its nodes.
func TestBuilderWriteDropsDeviceNodes(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	src := filepath.Join(tmp, "rootfs-src")
	if err := os.MkdirAll(filepath.Join(src, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"dev/initctl"}
	if err := unix.Mkfifo(filepath.Join(src, "dev", "initctl"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := unix.Mknod(filepath.Join(src, "dev", "console"), unix.S_IFCHR|0o600, int(unix.Mkdev(5, 1))); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, "dev/console")
	} else {
		t.Log("not root: checking a FIFO only (character devices need root)")
	}
	b, err := FromRootfs(ctx, filepath.Join(tmp, "work"), src, "example.com/nodev")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := filepath.Join(tmp, "aci", "nodev.aci")
	if _, err := b.Write(ctx, out, aci.PackOptions{Epoch: 1, HasEpoch: true}); err != nil {
		t.Fatal(err)
	}
	if err := aci.RktCheck(out); err != nil {
		t.Errorf("recipe image is not renderable by rkt: %v", err)
	}
	ents, err := aci.SpecialFiles(out)
	if err != nil || len(ents) != 0 {
		t.Errorf("SpecialFiles = %v, %v; want none", ents, err)
	}
	r, err := Render(ctx, out, filepath.Join(tmp, "rendered"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := os.ReadDir(filepath.Join(r.Rootfs(), "dev"))
	if err != nil || len(dev) != 0 {
		t.Errorf("/dev in the image = %v, %v; want an empty directory", dev, err)
	}
	for _, n := range nodes {
		if _, err := os.Lstat(filepath.Join(src, n)); err != nil {
			t.Errorf("the builder changed its source rootfs: %v", err)
		}
	}
}
