package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// AnnotationSBOM, on an image's index.json descriptor, is the digest of
// the SBOM artifact manifest (in blobs/) whose subject is that image.
const AnnotationSBOM = "io.rktbuild.sbom.manifest"

// SPDXMediaType is the media type of an SPDX JSON document (the SBOM
// artifact's layer and artifactType).
const SPDXMediaType = "application/spdx+json"

// LayoutOptions controls WriteLayout.
type LayoutOptions struct {
	Options
	// SBOM, when set, is an SPDX JSON document attached to the image as an
	// OCI 1.1 referrer: an artifact manifest (artifactType
	// application/spdx+json) whose subject is the image. It is stored in
	// blobs/ and named by the image's index.json annotation AnnotationSBOM,
	// not listed in index.json itself: podman load, skopeo and umoci want
	// exactly one manifest there. The registry serves it as a referrer.
	SBOM []byte
}

// Result describes a written layout.
type Result struct {
	Dir        string
	Repository string
	Tag        string
	// Digest is the image manifest's digest; Config the config's.
	Digest, Config v1.Hash
	// LayerSize is the compressed layer's size in bytes.
	LayerSize int64
	ACIID     string
	// SBOM is the SBOM artifact manifest's digest (zero without one).
	SBOM v1.Hash
}

// WriteLayout converts the ACI file into an OCI image layout at dir (a
// directory holding oci-layout, index.json and blobs/), tagged with the
// image's Tag. The layout is built beside dir and renamed into place, so
// dir is either the old layout or the complete new one.
func WriteLayout(ctx context.Context, aciFile, dir string, opts LayoutOptions) (Result, error) {
	tmp, im, done, err := convertBeside(ctx, aciFile, dir, opts.Options)
	if err != nil {
		return Result{}, err
	}
	defer done()
	res, err := writeLayout(tmp, im, im.Tag, opts.SBOM)
	if err != nil {
		return Result{}, fmt.Errorf("oci: writing the layout for %s: %w", aciFile, err)
	}
	if err := normalizeModes(tmp); err != nil {
		return Result{}, fmt.Errorf("oci: %w", err)
	}
	if err := swapDir(tmp, dir); err != nil {
		return Result{}, fmt.Errorf("oci: %w", err)
	}
	res.Dir = dir
	return res, nil
}

// convertBeside converts the ACI file (FromACI) with its scratch files in
// a new temporary directory beside target, so that what is written there
// can be renamed onto target. done closes the image and removes the
// directory.
func convertBeside(ctx context.Context, aciFile, target string, opts Options) (tmp string, im *Image, done func(), err error) {
	tmp, err = tempBeside(target)
	if err != nil {
		return "", nil, nil, fmt.Errorf("oci: %w", err)
	}
	opts.TempDir = tmp
	im, err = FromACI(ctx, aciFile, opts)
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, nil, err
	}
	return tmp, im, func() { im.Close(); os.RemoveAll(tmp) }, nil
}

// writeLayout writes im into a new layout at dir, its index.json entry
// annotated with refName as org.opencontainers.image.ref.name.
func writeLayout(dir string, im *Image, refName string, sbom []byte) (Result, error) {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return Result{}, err
	}
	// Move the layer file into place so the layout writer finds it there.
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return Result{}, err
	}
	dst := filepath.Join(blobs, im.layer.digest.Hex)
	if err := os.Rename(im.layer.path, dst); err != nil {
		return Result{}, err
	}
	if err := os.Chmod(dst, 0o644); err != nil {
		return Result{}, err
	}
	im.layer.path = dst
	res := Result{Repository: im.Repository, Tag: im.Tag, LayerSize: im.layer.size, ACIID: im.ACIID}
	if res.Digest, err = im.Digest(); err != nil {
		return res, err
	}
	if res.Config, err = im.ConfigName(); err != nil {
		return res, err
	}
	anns := map[string]string{AnnotationRefName: refName}
	if len(sbom) > 0 {
		desc, err := Descriptor(im.Image)
		if err != nil {
			return res, err
		}
		raw, err := SBOMManifest(desc, sbom)
		if err != nil {
			return res, err
		}
		for _, b := range [][]byte{sbom, emptyJSON, raw} {
			if err := p.WriteBlob(sha256Of(b), io.NopCloser(bytes.NewReader(b))); err != nil {
				return res, err
			}
		}
		res.SBOM = sha256Of(raw)
		anns[AnnotationSBOM] = res.SBOM.String()
	}
	if err := p.AppendImage(im.Image, layout.WithAnnotations(anns)); err != nil {
		return res, err
	}
	return res, nil
}

// emptyJSON is the OCI empty descriptor's content, the config of
// artifacts.
var emptyJSON = []byte("{}")

func sha256Of(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}

// Descriptor returns the manifest descriptor of img.
func Descriptor(img v1.Image) (v1.Descriptor, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: sha256Of(raw)}, nil
}

// SBOMManifest returns the raw OCI 1.1 artifact manifest that attaches the
// SPDX document sbom to the image described by subject.
func SBOMManifest(subject v1.Descriptor, sbom []byte) ([]byte, error) {
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SPDXMediaType,
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Size: int64(len(emptyJSON)), Digest: sha256Of(emptyJSON), Data: emptyJSON},
		Layers:        []v1.Descriptor{{MediaType: SPDXMediaType, Size: int64(len(sbom)), Digest: sha256Of(sbom)}},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
	}
	return json.Marshal(m)
}

// normalizeModes gives the layout's directories 0755 and files 0644 (the
// layout writer creates files with 0777 minus the umask).
func normalizeModes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// swapDir replaces dst with the directory tmp (same parent): the old dst
// is moved aside, tmp renamed in, the old one removed.
func swapDir(tmp, dst string) error {
	old := ""
	if _, err := os.Lstat(dst); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dst, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if old != "" {
			_ = os.Rename(old, dst)
		}
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// Archive formats WriteArchive writes.
const (
	// FormatOCIArchive is a tar of an OCI image layout (podman's
	// oci-archive transport).
	FormatOCIArchive = "oci-archive"
	// FormatDockerArchive is `docker save` format (docker-archive).
	FormatDockerArchive = "docker-archive"
)

// WriteArchive converts the ACI file into a tarball `podman load` reads:
// an oci-archive (the layout, SBOM included, as a deterministic tar, its
// ref name REPOSITORY:TAG) or a docker-archive tagged REPOSITORY:TAG. It writes a temp file beside out
// and renames it.
func WriteArchive(ctx context.Context, aciFile, out, format string, opts LayoutOptions) (Result, error) {
	if format != FormatOCIArchive && format != FormatDockerArchive {
		return Result{}, fmt.Errorf("oci: unknown archive format %q: use %s or %s", format, FormatOCIArchive, FormatDockerArchive)
	}
	tmp, im, done, err := convertBeside(ctx, aciFile, out, opts.Options)
	if err != nil {
		return Result{}, err
	}
	defer done()
	// In an oci-archive the ref name is the full REPOSITORY:TAG, which
	// `podman load` names the image by; a layout directory keeps the bare
	// tag that oci:DIR:TAG references use.
	lay := filepath.Join(tmp, "layout")
	res, err := writeLayout(lay, im, im.Repository+":"+im.Tag, opts.SBOM)
	if err != nil {
		return res, fmt.Errorf("oci: %w", err)
	}
	f, err := os.CreateTemp(tmp, "archive-*.tar")
	if err != nil {
		return res, fmt.Errorf("oci: %w", err)
	}
	defer f.Close()
	switch format {
	case FormatOCIArchive:
		err = TarDir(lay, f)
	case FormatDockerArchive:
		var ref name.Tag
		ref, err = name.NewTag(im.Repository + ":" + im.Tag)
		if err == nil {
			err = tarball.Write(ref, im.Image, f)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("oci: writing %s: %w", out, err)
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return res, fmt.Errorf("oci: %w", err)
	}
	res.Dir = out
	return res, nil
}

// TarDir writes the files under dir as a deterministic tar: sorted names,
// zero times, root owner, modes 0755/0644.
func TarDir(dir string, w io.Writer) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size(), Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			h.Name += "/"
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s: not a regular file", p)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// ReadLayout opens the layout at dir and returns the image tagged tag
// (the only image when tag is empty) and its descriptor.
func ReadLayout(dir, tag string) (v1.Image, v1.Descriptor, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("oci: %s is not an OCI layout: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("oci: %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("oci: %s: %w", dir, err)
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if d.ArtifactType == SPDXMediaType {
			continue
		}
		if tag == "" || d.Annotations[AnnotationRefName] == tag {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		var tags []string
		for _, d := range im.Manifests {
			if t := d.Annotations[AnnotationRefName]; t != "" {
				tags = append(tags, t)
			}
		}
		return nil, v1.Descriptor{}, fmt.Errorf("oci: %s: %d images tagged %q (tags: %s)", dir, len(found), tag, strings.Join(tags, ", "))
	}
	img, err := idx.Image(found[0].Digest)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("oci: %s: %w", dir, err)
	}
	return img, found[0], nil
}

// Referrers returns the descriptors of the artifacts in the layout at dir
// whose subject is the image subject (the SBOM, named by AnnotationSBOM).
func Referrers(dir string, subject v1.Hash) ([]v1.Descriptor, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, d := range im.Manifests {
		ref := d.Annotations[AnnotationSBOM]
		if d.Digest != subject || ref == "" {
			continue
		}
		h, err := v1.NewHash(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: annotation %s: %w", dir, AnnotationSBOM, err)
		}
		raw, err := p.Bytes(h)
		if err != nil {
			return nil, fmt.Errorf("%s: SBOM manifest %s: %w", dir, h, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", h, err)
		}
		if m.Subject == nil || m.Subject.Digest != subject {
			return nil, fmt.Errorf("%s: SBOM manifest %s is not about %s", dir, h, subject)
		}
		out = append(out, v1.Descriptor{MediaType: m.MediaType, Size: int64(len(raw)), Digest: h, ArtifactType: m.ArtifactType})
	}
	return out, nil
}

// LayoutDir is where a layout for the ACI file is written by `mage
// images` with IMAGE_FORMATS including oci: X.aci -> X.oci (a directory).
func LayoutDir(aciFile string) string {
	return strings.TrimSuffix(aciFile, ".aci") + ".oci"
}
