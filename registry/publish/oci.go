package publish

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/sign"
)

// The OCI half of a published tree. Beside every ACI that has an OCI
// layout (X.aci -> X.oci, written by `mage images` with
// IMAGE_FORMATS=aci,oci), the tree holds the read-only OCI distribution API
// as static files, answered by `serve`:
//
//	v2/_catalog                                 {"repositories": [...]}
//	v2/<repo>/tags/list                         {"name": ..., "tags": [...]}
//	v2/<repo>/manifests/<tag>, .../sha256:<hex> the image manifest
//	v2/<repo>/blobs/sha256:<hex>                config, layer, SBOM blobs
//	v2/<repo>/referrers/sha256:<hex>            OCI index of the SBOM referrer
//	sigstore/<repo>@sha256=<hex>/signature-N    simple-signing signatures
//
// <repo> is oci.Repository(ACI name); tags are each image's version label
// plus `latest` for the newest version (the same rule as the ACI `latest`
// copies). The signatures bind the manifest digest to
// HOST[:PORT]/<repo>:<tag>, HOST[:PORT] taken from the base URL: one
// signature per tag, numbered in tag order.

// reservedOCI reports whether a web-root path belongs to the OCI trees.
func reservedOCI(rel string) bool {
	return rel == "v2" || rel == "sigstore" || strings.HasPrefix(rel, "v2/") || strings.HasPrefix(rel, "sigstore/")
}

// ociImage is one ACI's OCI image found beside it.
type ociImage struct {
	im     *image
	dir    string // the layout
	repo   string
	tag    string
	desc   v1.Descriptor
	img    v1.Image
	layout layout.Path
}

// findOCI returns the OCI layouts beside the images (those without one are
// ACI-only) and checks each was made from the ACI beside it.
func findOCI(imgs []*image) ([]*ociImage, error) {
	var out []*ociImage
	for _, im := range imgs {
		dir := oci.LayoutDir(im.Path)
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			continue
		}
		img, desc, err := oci.ReadLayout(dir, "")
		if err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		if got := m.Annotations[oci.AnnotationACIID]; got != im.ID {
			return nil, fmt.Errorf("%s is stale: it was made from ACI %s, but %s is %s: run `mage images` (IMAGE_FORMATS=aci,oci) or `mage oci:export %s %s`",
				dir, short(got), im.Path, short(im.ID), im.Path, dir)
		}
		p, err := layout.FromPath(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, &ociImage{im: im, dir: dir, repo: oci.Repository(im.Name()), tag: desc.Annotations[oci.AnnotationRefName], desc: desc, img: img, layout: p})
	}
	return out, nil
}

func short(id string) string {
	if len(id) > 19 {
		return id[:19]
	}
	return id
}

// DockerHost returns the HOST[:PORT] clients use for the registry served
// at baseURL (the host of signed docker references).
func DockerHost(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("base URL %q has no host (set PUBLISH_BASE_URL)", baseURL)
	}
	return u.Host, nil
}

// layoutOCI writes the v2/ and sigstore/ trees for the OCI images into
// root. latest says which ACIs are the newest of their name.
func layoutOCI(root string, ocis []*ociImage, latest map[string]bool, signer *openpgp.Entity, host string) ([]Entry, error) {
	if len(ocis) == 0 {
		return nil, nil
	}
	type tagged struct {
		o   *ociImage
		tag string
	}
	byRepo := map[string]map[string]tagged{}
	for _, o := range ocis {
		tags := []string{o.tag}
		if latest[o.im.Path] && o.tag != "latest" {
			tags = append(tags, "latest")
		}
		if byRepo[o.repo] == nil {
			byRepo[o.repo] = map[string]tagged{}
		}
		for _, t := range tags {
			if prev, dup := byRepo[o.repo][t]; dup && prev.o.desc.Digest != o.desc.Digest {
				return nil, fmt.Errorf("%s and %s are both %s:%s: give them different version labels", prev.o.im.Path, o.im.Path, o.repo, t)
			}
			byRepo[o.repo][t] = tagged{o, t}
		}
	}
	var repos []string
	var entries []Entry
	for repo, tags := range byRepo {
		repos = append(repos, repo)
		base := filepath.Join(root, "v2", filepath.FromSlash(repo))
		var names []string
		sigs := map[v1.Hash][]string{} // digest -> tags, for signature numbering
		for t, tg := range tags {
			names = append(names, t)
			o := tg.o
			raw, err := o.img.RawManifest()
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(filepath.Join(base, "manifests"), 0o755); err != nil {
				return nil, err
			}
			for _, f := range []string{t, o.desc.Digest.String()} {
				if err := os.WriteFile(filepath.Join(base, "manifests", f), raw, 0o644); err != nil {
					return nil, err
				}
			}
			if err := publishBlobs(o, base); err != nil {
				return nil, err
			}
			sigs[o.desc.Digest] = append(sigs[o.desc.Digest], t)
			entries = append(entries, Entry{Source: o.dir, Path: path.Join("v2", repo, "manifests", t), Name: o.im.Name(), Labels: o.im.labels, ID: o.desc.Digest.String(), Signer: o.im.signer, IsLatest: t == "latest"})
		}
		sort.Strings(names)
		if err := writeJSON(filepath.Join(base, "tags", "list"), map[string]any{"name": repo, "tags": names}); err != nil {
			return nil, err
		}
		if signer == nil {
			continue
		}
		for d, ts := range sigs {
			sort.Strings(ts)
			o := tags[ts[0]].o
			at, err := signatureTime(o.im)
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(root, "sigstore", filepath.FromSlash(repo)+"@"+d.Algorithm+"="+d.Hex)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			for i, t := range ts {
				sig, err := sign.SimpleSign(signer, host+"/"+repo+":"+t, d.String(), at)
				if err != nil {
					return nil, fmt.Errorf("signing %s:%s: %w", repo, t, err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("signature-%d", i+1)), sig, 0o644); err != nil {
					return nil, err
				}
			}
		}
	}
	sort.Strings(repos)
	if err := writeJSON(filepath.Join(root, "v2", "_catalog"), map[string]any{"repositories": repos}); err != nil {
		return nil, err
	}
	return entries, nil
}

// signatureTime is the time simple signatures claim: the modification time
// of the ACI's own signature, so republishing unchanged images signs the
// same bytes (RSA signatures are deterministic) and the tree hash holds.
func signatureTime(im *image) (time.Time, error) {
	fi, err := os.Stat(im.sig)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime().Truncate(time.Second), nil
}

// publishBlobs links the image's blobs, its SBOM referrer and that
// referrer's blobs into base/blobs, and writes base/referrers.
func publishBlobs(o *ociImage, base string) error {
	m, err := o.img.Manifest()
	if err != nil {
		return err
	}
	blobs := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	refs, err := oci.Referrers(o.dir, o.desc.Digest)
	if err != nil {
		return fmt.Errorf("%s: %w", o.dir, err)
	}
	for _, r := range refs {
		raw, err := o.layout.Bytes(r.Digest)
		if err != nil {
			return err
		}
		var rm v1.Manifest
		if err := json.Unmarshal(raw, &rm); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(base, "manifests", r.Digest.String()), raw, 0o644); err != nil {
			return err
		}
		blobs = append(blobs, rm.Config.Digest)
		for _, l := range rm.Layers {
			blobs = append(blobs, l.Digest)
		}
	}
	for _, b := range blobs {
		src := filepath.Join(o.dir, "blobs", b.Algorithm, b.Hex)
		dst := filepath.Join(base, "blobs", b.String())
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := linkOrCopy(src, dst); err != nil {
			return fmt.Errorf("%s: blob %s: %w", o.dir, b, err)
		}
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: refs}
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	return writeJSON(filepath.Join(base, "referrers", o.desc.Digest.String()), idx)
}

func writeJSON(file string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// publishOCI lays out the OCI API for the images that have a layout.
func publishOCI(root string, imgs []*image, newest map[string]*image, baseURL string, signer *openpgp.Entity) ([]Entry, error) {
	ocis, err := findOCI(imgs)
	if err != nil || len(ocis) == 0 {
		return nil, err
	}
	host, err := DockerHost(baseURL)
	if err != nil {
		return nil, err
	}
	latest := map[string]bool{}
	for _, im := range newest {
		latest[im.Path] = true
	}
	return layoutOCI(root, ocis, latest, signer, host)
}
