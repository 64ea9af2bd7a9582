// Package oci turns an appc ACI into an OCI image: one gzip layer holding
// the ACI's rootfs (same entries, modes, owners, links, device nodes and
// xattrs, in the same order) and an image config that maps the ACI app —
// exec to Entrypoint, environment, working directory, user:group, ports to
// ExposedPorts, mount points to Volumes, labels and annotations to OCI
// labels — plus org.opencontainers.image.* annotations (title, version,
// created from SOURCE_DATE_EPOCH, url, documentation, authors).
//
// The conversion is deterministic: the same ACI (and epoch) gives the same
// layer, config and manifest digests. It writes an OCI image layout
// directory (WriteLayout), an oci-archive (a tar of that layout) or a
// docker-archive (WriteArchive), all atomically. The object model, the
// layout writer and the docker-archive writer are go-containerregistry's.
package oci

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/rktbuild/rktbuild/format/aci"
)

// Version is folded into the inputs of the steps that write OCI images:
// bump it when a change here changes the output.
const Version = "1"

// Annotation keys this package writes besides the org.opencontainers ones.
const (
	// AnnotationACIID records the image ID of the ACI an image came from,
	// so a layout can be checked against its ACI.
	AnnotationACIID = "io.rktbuild.aci.image-id"
	// AnnotationACIName records the ACI's name.
	AnnotationACIName = "io.rktbuild.aci.name"
	// AnnotationRefName is the OCI layout annotation naming a tag.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationCreated and AnnotationVersion are the OCI standard keys.
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationVersion is the image version (the ACI's version label).
	AnnotationVersion = "org.opencontainers.image.version"
)

// ErrStage1 is returned for rkt stage1 images, which have no meaning
// outside rkt and are not converted.
var ErrStage1 = errors.New("a rkt stage1 image is rkt-only: it has no OCI form (it is the pod's runtime, not an app)")

// Options controls a conversion.
type Options struct {
	// Epoch, when HasEpoch, is SOURCE_DATE_EPOCH: the config's and
	// history's created time and the org.opencontainers.image.created
	// annotation. Without it no creation time is recorded.
	Epoch    int64
	HasEpoch bool
	// TempDir holds the converted layer while an Image is in use (the
	// system temp dir when empty).
	TempDir string
}

// Image is an ACI converted to OCI. Close removes its layer file.
type Image struct {
	v1.Image
	// ACI is the ACI's manifest.
	ACI *schema.ImageManifest
	// ACIID is the ACI's image ID.
	ACIID string
	// Tag is the OCI tag for the image (its version label, sanitised).
	Tag string
	// Repository is the OCI repository name for the ACI name.
	Repository string
	layer      *fileLayer
}

// Close removes the temporary layer file.
func (im *Image) Close() error {
	if im.layer == nil {
		return nil
	}
	return os.Remove(im.layer.path)
}

// IsStage1 reports whether m is a rkt stage1 image.
func IsStage1(m *schema.ImageManifest) bool {
	_, ok := m.Annotations.Get("coreos.com/rkt/stage1/run")
	return ok
}

// FromACI converts the ACI file: it streams the ACI once (aci.Walk),
// writing the gzip layer to a temporary file while hashing it.
func FromACI(ctx context.Context, file string, opts Options) (*Image, error) {
	dir := opts.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	tmp, err := os.CreateTemp(dir, ".layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	lw, err := newLayerWriter(tmp)
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	ai, err := aci.Walk(ctx, file, aci.Walker{
		Manifest: func(m *schema.ImageManifest) error {
			if IsStage1(m) {
				return ErrStage1 // before converting a whole rootfs
			}
			return nil
		},
		Entry: lw.add,
	})
	if errors.Is(err, ErrStage1) {
		return nil, fmt.Errorf("oci: %s (%s): %w", file, ai.Manifest.Name, ErrStage1)
	}
	if err != nil {
		return nil, fmt.Errorf("oci: converting %s: %w", file, err)
	}
	l, err := lw.finish()
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	l.path = tmp.Name()
	m := ai.Manifest
	img, err := buildImage(m, ai.ID, l, opts)
	if err != nil {
		return nil, fmt.Errorf("oci: %s: %w", file, err)
	}
	ok = true
	return &Image{Image: img, ACI: m, ACIID: ai.ID, Tag: Tag(m), Repository: Repository(m.Name.String()), layer: l}, nil
}

// layerWriter writes rootfs entries into a gzip layer, hashing the
// compressed bytes (digest) and the tar (diff ID).
type layerWriter struct {
	cw   *counter
	zw   *gzip.Writer
	diff hash.Hash
	tw   *tar.Writer
}

func newLayerWriter(w io.Writer) (*layerWriter, error) {
	cw := &counter{w: w, h: sha256.New()}
	zw, err := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	diff := sha256.New()
	return &layerWriter{cw: cw, zw: zw, diff: diff, tw: tar.NewWriter(io.MultiWriter(zw, diff))}, nil
}

// add copies one rootfs entry (name relative to rootfs/) into the layer:
// the layer's root is the container's /.
func (lw *layerWriter) add(name string, hdr *tar.Header, body io.Reader) error {
	h := *hdr
	h.Name = name
	if h.Typeflag == tar.TypeLink {
		h.Linkname = strings.TrimPrefix(strings.TrimPrefix(h.Linkname, "./"), "rootfs/")
	}
	// The reader fills both Xattrs (deprecated) and PAXRecords; the
	// writer takes the xattrs from PAXRecords alone.
	h.Xattrs = nil //nolint:staticcheck
	if err := lw.tw.WriteHeader(&h); err != nil {
		return fmt.Errorf("layer entry %s: %w", h.Name, err)
	}
	if h.Typeflag == tar.TypeReg {
		if _, err := io.Copy(lw.tw, body); err != nil {
			return fmt.Errorf("layer entry %s: %w", h.Name, err)
		}
	}
	return nil
}

// finish closes the layer and returns its hashes and size.
func (lw *layerWriter) finish() (*fileLayer, error) {
	if err := lw.tw.Close(); err != nil {
		return nil, err
	}
	if err := lw.zw.Close(); err != nil {
		return nil, err
	}
	return &fileLayer{
		digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", lw.cw.h.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", lw.diff.Sum(nil))},
		size:   lw.cw.n,
	}, nil
}

// buildImage makes the OCI image from the ACI manifest and the layer.
func buildImage(m *schema.ImageManifest, id string, l *fileLayer, opts Options) (v1.Image, error) {
	cfg, anns := ConfigFor(m, id, opts)
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	hist := v1.History{Created: cfg.Created, CreatedBy: "rktbuild: rootfs of ACI " + m.Name.String() + " " + id}
	img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: hist, MediaType: types.OCILayer})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, anns).(v1.Image), nil
}

// ConfigFor maps an ACI manifest to an OCI config (without layers) and the
// manifest annotations.
func ConfigFor(m *schema.ImageManifest, id string, opts Options) (*v1.ConfigFile, map[string]string) {
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}}
	labels := aci.LabelMap(m.Labels)
	if v := labels["os"]; v != "" {
		cfg.OS = v
	}
	if v := labels["arch"]; v != "" {
		cfg.Architecture, cfg.Variant = Arch(v)
	}
	anns := map[string]string{
		AnnotationACIID:                   id,
		AnnotationACIName:                 m.Name.String(),
		"org.opencontainers.image.title":  m.Name.String(),
		"org.opencontainers.image.vendor": "rktbuild",
	}
	if v := labels["version"]; v != "" {
		anns[AnnotationVersion] = v
	}
	if opts.HasEpoch {
		t := time.Unix(opts.Epoch, 0).UTC()
		cfg.Created = v1.Time{Time: t}
		anns[AnnotationCreated] = t.Format(time.RFC3339)
	}
	for _, a := range m.Annotations {
		switch a.Name.String() {
		case "homepage":
			anns["org.opencontainers.image.url"] = a.Value
		case "documentation":
			anns["org.opencontainers.image.documentation"] = a.Value
		case "authors":
			anns["org.opencontainers.image.authors"] = a.Value
		case "created":
			if !opts.HasEpoch {
				anns[AnnotationCreated] = a.Value
			}
		}
	}
	c := v1.Config{Labels: map[string]string{}}
	for k, v := range labels {
		c.Labels[k] = v
	}
	for _, a := range m.Annotations {
		c.Labels[a.Name.String()] = a.Value
	}
	for k, v := range anns {
		if strings.HasPrefix(k, "org.opencontainers.image.") {
			c.Labels[k] = v
		}
	}
	if app := m.App; app != nil {
		c.Entrypoint = append([]string(nil), app.Exec...)
		for _, e := range app.Environment {
			c.Env = append(c.Env, e.Name+"="+e.Value)
		}
		c.WorkingDir = app.WorkingDirectory
		c.User = app.User
		if app.Group != "" {
			c.User += ":" + app.Group
		}
		for _, p := range app.Ports {
			if c.ExposedPorts == nil {
				c.ExposedPorts = map[string]struct{}{}
			}
			c.ExposedPorts[fmt.Sprintf("%d/%s", p.Port, p.Protocol)] = struct{}{}
		}
		for _, mp := range app.MountPoints {
			if c.Volumes == nil {
				c.Volumes = map[string]struct{}{}
			}
			c.Volumes[mp.Path] = struct{}{}
		}
	}
	cfg.Config = c
	return cfg, anns
}

// Arch maps an appc arch label to the OCI architecture and variant.
func Arch(appc string) (string, string) {
	switch appc {
	case "aarch64":
		return "arm64", ""
	case "aarch64_be":
		return "arm64be", ""
	case "armv6l":
		return "arm", "v6"
	case "armv7l", "armv7b":
		return "arm", "v7"
	case "i386":
		return "386", ""
	}
	return appc, ""
}

var (
	badRepoChars = regexp.MustCompile(`[^a-z0-9._/-]+`)
	badRepoSeps  = regexp.MustCompile(`[._-]*/[._-]*|[._-]{3,}`)
	badTagChars  = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// Repository maps an ACI name to an OCI repository name: the whole name,
// host part included (aci.rktbuild.local/debian-bookworm-base stays
// aci.rktbuild.local/debian-bookworm-base), lower-cased, with characters
// OCI does not allow ('~' and anything else outside [a-z0-9._/-]) turned
// into '-', separators next to a '/' dropped and runs of three or more
// separators shortened to '-'. Valid names (all rktbuild's) map to
// themselves.
func Repository(aciName string) string {
	s := strings.ToLower(aciName)
	s = badRepoChars.ReplaceAllString(s, "-")
	s = badRepoSeps.ReplaceAllStringFunc(s, func(m string) string {
		if strings.Contains(m, "/") {
			return "/"
		}
		return "-"
	})
	s = strings.Trim(s, "/._-")
	return s
}

// Tag is the OCI tag for an ACI: its version label ("latest" when it has
// none) with characters a tag cannot hold turned into '_' ('+' in Debian
// versions), at most 128 characters.
func Tag(m *schema.ImageManifest) string {
	v, _ := m.Labels.Get("version")
	if v == "" {
		return "latest"
	}
	t := badTagChars.ReplaceAllString(v, "_")
	if t[0] == '.' || t[0] == '-' {
		t = "_" + t[1:]
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

type counter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// fileLayer is a gzip layer in a file whose hashes are already known.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// tempBeside returns a fresh temporary name in the directory of path.
func tempBeside(path string) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(dir, "."+filepath.Base(path)+".tmp-")
}
