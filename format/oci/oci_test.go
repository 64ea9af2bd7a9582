package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

const fixtureManifest = `{
  "acKind": "ImageManifest", "acVersion": "0.8.11",
  "name": "example.com/tools/hello",
  "labels": [{"name": "version", "value": "1.2+deb12u1"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "aarch64"}],
  "app": {
    "exec": ["/bin/hello", "--greet"],
    "user": "1000", "group": "100",
    "workingDirectory": "/work",
    "environment": [{"name": "PATH", "value": "/usr/bin:/bin"}, {"name": "LANG", "value": "C.UTF-8"}],
    "mountPoints": [{"name": "data", "path": "/data", "readOnly": false}],
    "ports": [{"name": "http", "protocol": "tcp", "port": 8080}, {"name": "dns", "protocol": "udp", "port": 53}]
  },
  "annotations": [{"name": "homepage", "value": "https://example.com/hello"}, {"name": "authors", "value": "A. Author"}]
}`

// fixtureEntry is one rootfs entry of the generated ACI.
type fixtureEntry struct {
	hdr  tar.Header
	body string
}

func fixtureEntries() []fixtureEntry {
	mt := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	e := func(h tar.Header, body string) fixtureEntry {
		h.ModTime = mt
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		return fixtureEntry{h, body}
	}
	return []fixtureEntry{
		e(tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}, ""),
		e(tar.Header{Name: "rootfs/bin/", Typeflag: tar.TypeDir, Mode: 0o755}, ""),
		e(tar.Header{Name: "rootfs/bin/hello", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 0, Gid: 0}, "#!/bin/sh\necho hello\n"),
		e(tar.Header{Name: "rootfs/bin/hi", Typeflag: tar.TypeLink, Linkname: "rootfs/bin/hello", Mode: 0o4755}, ""),
		e(tar.Header{Name: "rootfs/bin/ping", Typeflag: tar.TypeReg, Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, "ping"),
		e(tar.Header{Name: "rootfs/dev/", Typeflag: tar.TypeDir, Mode: 0o755}, ""),
		e(tar.Header{Name: "rootfs/dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, ""),
		e(tar.Header{Name: "rootfs/etc/", Typeflag: tar.TypeDir, Mode: 0o755}, ""),
		e(tar.Header{Name: "rootfs/etc/motd", Typeflag: tar.TypeSymlink, Linkname: "../usr/share/motd", Mode: 0o777}, ""),
		e(tar.Header{Name: "rootfs/home/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 100, Uname: "user", Gname: "users"}, ""),
		e(tar.Header{Name: "rootfs/tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, ""),
		e(tar.Header{Name: "rootfs/run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}, ""),
	}
}

// writeFixtureACI writes a gzip ACI with every kind of entry.
func writeFixtureACI(t *testing.T, dir, manifest string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tw.WriteHeader(&tar.Header{Name: "manifest", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(manifest)), ModTime: time.Unix(1700000000, 0)}))
	_, err := tw.Write([]byte(manifest))
	must(err)
	for _, fe := range fixtureEntries() {
		h := fe.hdr
		must(tw.WriteHeader(&h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(fe.body))
			must(err)
		}
	}
	must(tw.Close())
	must(zw.Close())
	p := filepath.Join(dir, "hello.aci")
	must(os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

// golden is what testdata/golden.json pins for the fixture.
type golden struct {
	Manifest    json.RawMessage `json:"manifest"`
	Config      json.RawMessage `json:"config"`
	Digest      string          `json:"digest"`
	LayerDigest string          `json:"layerDigest"`
	DiffID      string          `json:"diffID"`
	Repository  string          `json:"repository"`
	Tag         string          `json:"tag"`
}

func TestLayoutGolden(t *testing.T) {
	dir := t.TempDir()
	aciFile := writeFixtureACI(t, dir, fixtureManifest)
	opts := LayoutOptions{Options: Options{Epoch: 1700000000, HasEpoch: true}, SBOM: []byte(`{"spdxVersion":"SPDX-2.3"}`)}
	out := filepath.Join(dir, "hello.oci")
	res, err := WriteLayout(context.Background(), aciFile, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	img, desc, err := ReadLayout(out, res.Tag)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != res.Digest {
		t.Fatalf("index.json names %s, WriteLayout reported %s", desc.Digest, res.Digest)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("go-containerregistry's validation of the layout image: %v", err)
	}
	rawM, _ := img.RawManifest()
	rawC, _ := img.RawConfigFile()
	ls, _ := img.Layers()
	if len(ls) != 1 {
		t.Fatalf("%d layers, want 1", len(ls))
	}
	ld, _ := ls[0].Digest()
	diff, _ := ls[0].DiffID()
	got := golden{Manifest: rawM, Config: rawC, Digest: res.Digest.String(), LayerDigest: ld.String(), DiffID: diff.String(), Repository: res.Repository, Tag: res.Tag}
	gotJSON, _ := json.MarshalIndent(got, "", "  ")
	gp := filepath.Join("testdata", "golden.json")
	testutil.Golden(t, gp, append(gotJSON, '\n'))

	// Same ACI, second conversion: same bytes.
	res2, err := WriteLayout(context.Background(), aciFile, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Digest != res.Digest || res2.SBOM != res.SBOM {
		t.Errorf("second conversion gave %s/%s, first %s/%s", res2.Digest, res2.SBOM, res.Digest, res.SBOM)
	}
	var index v1.IndexManifest
	if b, err := os.ReadFile(filepath.Join(out, "index.json")); err != nil || json.Unmarshal(b, &index) != nil || len(index.Manifests) != 1 {
		t.Errorf("index.json must list exactly the image (podman load, skopeo and umoci refuse more): %+v %v", index.Manifests, err)
	}
	refs, err := Referrers(out, res.Digest)
	if err != nil || len(refs) != 1 || refs[0].Digest != res.SBOM {
		t.Errorf("referrers of the image = %v, %v; want the SBOM manifest %s", refs, err, res.SBOM)
	}

	// The layer holds the rootfs entries, rootfs/ stripped, metadata kept.
	rc, _ := ls[0].Uncompressed()
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		switch h.Name {
		case "bin/hi":
			if h.Typeflag != tar.TypeLink || h.Linkname != "bin/hello" {
				t.Errorf("hardlink %s -> %q (type %c), want bin/hello", h.Name, h.Linkname, h.Typeflag)
			}
		case "bin/hello":
			if h.Mode != 0o4755 {
				t.Errorf("bin/hello mode %o, want setuid 4755", h.Mode)
			}
		case "bin/ping":
			if _, ok := h.PAXRecords["SCHILY.xattr.security.capability"]; !ok {
				t.Errorf("bin/ping lost its security.capability xattr: %v", h.PAXRecords)
			}
		case "dev/null":
			if h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
				t.Errorf("dev/null: type %c %d:%d", h.Typeflag, h.Devmajor, h.Devminor)
			}
		case "home/":
			if h.Uid != 1000 || h.Gid != 100 || h.Mode != 0o750 {
				t.Errorf("home/: %d:%d %o", h.Uid, h.Gid, h.Mode)
			}
		}
	}
	wantNames := []string{"bin/", "bin/hello", "bin/hi", "bin/ping", "dev/", "dev/null", "etc/", "etc/motd", "home/", "tmp/", "run/fifo"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("layer entries %q, want %q", names, wantNames)
	}
}

func TestConfigMapping(t *testing.T) {
	m := &schema.ImageManifest{}
	if err := m.UnmarshalJSON([]byte(fixtureManifest)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, c *v1.ConfigFile, anns map[string]string)
	}{
		{"app", Options{}, func(t *testing.T, c *v1.ConfigFile, anns map[string]string) {
			if !reflect.DeepEqual(c.Config.Entrypoint, []string{"/bin/hello", "--greet"}) || c.Config.Cmd != nil {
				t.Errorf("entrypoint %q cmd %q", c.Config.Entrypoint, c.Config.Cmd)
			}
			if c.Config.User != "1000:100" || c.Config.WorkingDir != "/work" {
				t.Errorf("user %q workdir %q", c.Config.User, c.Config.WorkingDir)
			}
			if !reflect.DeepEqual(c.Config.Env, []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}) {
				t.Errorf("env %q", c.Config.Env)
			}
			if _, ok := c.Config.ExposedPorts["8080/tcp"]; !ok || len(c.Config.ExposedPorts) != 2 {
				t.Errorf("ports %v", c.Config.ExposedPorts)
			}
			if _, ok := c.Config.Volumes["/data"]; !ok {
				t.Errorf("volumes %v", c.Config.Volumes)
			}
		}},
		{"platform", Options{}, func(t *testing.T, c *v1.ConfigFile, anns map[string]string) {
			if c.OS != "linux" || c.Architecture != "arm64" {
				t.Errorf("platform %s/%s, want linux/arm64 (appc aarch64)", c.OS, c.Architecture)
			}
		}},
		{"labels", Options{}, func(t *testing.T, c *v1.ConfigFile, anns map[string]string) {
			if c.Config.Labels["version"] != "1.2+deb12u1" || c.Config.Labels["homepage"] != "https://example.com/hello" {
				t.Errorf("labels %v", c.Config.Labels)
			}
			if anns["org.opencontainers.image.url"] != "https://example.com/hello" || anns[AnnotationVersion] != "1.2+deb12u1" {
				t.Errorf("annotations %v", anns)
			}
		}},
		{"no epoch, no created", Options{}, func(t *testing.T, c *v1.ConfigFile, anns map[string]string) {
			if !c.Created.IsZero() || anns[AnnotationCreated] != "" {
				t.Errorf("created %v / %q without SOURCE_DATE_EPOCH", c.Created, anns[AnnotationCreated])
			}
		}},
		{"epoch", Options{Epoch: 86400, HasEpoch: true}, func(t *testing.T, c *v1.ConfigFile, anns map[string]string) {
			if anns[AnnotationCreated] != "1970-01-02T00:00:00Z" || !c.Created.Equal(time.Unix(86400, 0)) {
				t.Errorf("created %v / %q", c.Created, anns[AnnotationCreated])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, anns := ConfigFor(m, "sha512-x", tt.opts)
			tt.check(t, c, anns)
		})
	}
}

func TestNames(t *testing.T) {
	repos := []struct{ in, want string }{
		{"aci.rktbuild.local/debian-bookworm-base", "aci.rktbuild.local/debian-bookworm-base"},
		{"example.com/a~b/c", "example.com/a-b/c"},
		{"example.com/x-/y", "example.com/x/y"},
		{"Example.com/A_B", "example.com/a_b"},
		{"example.com/a....b", "example.com/a-b"},
	}
	for _, tt := range repos {
		if got := Repository(tt.in); got != tt.want {
			t.Errorf("Repository(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	tags := []struct{ version, want string }{
		{"", "latest"},
		{"12.8", "12.8"},
		{"1.2+deb12u1", "1.2_deb12u1"},
		{".hidden", "_hidden"},
		{strings.Repeat("x", 200), strings.Repeat("x", 128)},
	}
	for _, tt := range tags {
		m := &schema.ImageManifest{}
		if tt.version != "" {
			m.Labels = append(m.Labels, mustLabel(t, "version", tt.version))
		}
		if got := Tag(m); got != tt.want {
			t.Errorf("Tag(version %q) = %q, want %q", tt.version, got, tt.want)
		}
	}
}

func TestStage1Refused(t *testing.T) {
	dir := t.TempDir()
	mf := strings.Replace(fixtureManifest, `"annotations": [`, `"annotations": [{"name": "coreos.com/rkt/stage1/run", "value": "/init"}, `, 1)
	aciFile := writeFixtureACI(t, dir, mf)
	_, err := WriteLayout(context.Background(), aciFile, filepath.Join(dir, "out.oci"), LayoutOptions{})
	if !errors.Is(err, ErrStage1) {
		t.Fatalf("stage1 image converted: err = %v, want ErrStage1", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a refused conversion left files behind: %v", ents)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notACI := filepath.Join(dir, "x.aci")
	os.WriteFile(notACI, []byte("hello, not an image"), 0o644)
	_, err := WriteLayout(context.Background(), notACI, filepath.Join(dir, "x.oci"), LayoutOptions{})
	if err == nil || !strings.Contains(err.Error(), notACI) {
		t.Fatalf("err = %v, want an error naming %s", err, notACI)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.oci")); !os.IsNotExist(err) {
		t.Errorf("a failed conversion left x.oci")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a failed conversion left files behind: %v", ents)
	}
}

func TestArchives(t *testing.T) {
	dir := t.TempDir()
	aciFile := writeFixtureACI(t, dir, fixtureManifest)
	opts := LayoutOptions{Options: Options{Epoch: 1700000000, HasEpoch: true}}
	lay, err := WriteLayout(context.Background(), aciFile, filepath.Join(dir, "l.oci"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{FormatOCIArchive, FormatDockerArchive} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format+".tar")
			res, err := WriteArchive(context.Background(), aciFile, out, format, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != lay.Digest {
				t.Errorf("archive image %s, layout image %s", res.Digest, lay.Digest)
			}
			first, _ := os.ReadFile(out)
			if _, err := WriteArchive(context.Background(), aciFile, out, format, opts); err != nil {
				t.Fatal(err)
			}
			second, _ := os.ReadFile(out)
			if !bytes.Equal(first, second) {
				t.Errorf("%s is not reproducible", format)
			}
			if format == FormatDockerArchive {
				img, err := tarball.ImageFromPath(out, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := validate.Image(img); err != nil {
					t.Errorf("docker-archive image invalid: %v", err)
				}
			}
		})
	}
	if _, err := WriteArchive(context.Background(), aciFile, filepath.Join(dir, "x.tar"), "zip", opts); err == nil || !strings.Contains(err.Error(), "oci-archive") {
		t.Errorf("unknown format: err = %v, want one naming the known formats", err)
	}
}

func mustLabel(t *testing.T, name, value string) types.Label {
	t.Helper()
	n, err := types.NewACIdentifier(name)
	if err != nil {
		t.Fatal(err)
	}
	return types.Label{Name: *n, Value: value}
}
