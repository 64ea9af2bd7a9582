// Package publish lays out a signed image tree that appc discovery (and so
// rkt) can fetch from: every ACI and its detached signature at the path the
// discovery URL template gives, a `latest` copy of the newest version of
// each name, the signing public keys as pubkeys.gpg (armored), and an
// index.html with ac-discovery / ac-discovery-pubkeys meta tags for every
// prefix served plus a readable list of the images.
//
// Only valid ACIs whose signature verifies against one of the given public
// keys are published. The web root is built beside the old one and swapped in
// by replacing the symlink DIR/current, so a server never sees a
// half-published tree; publishing the same inputs again changes nothing.
//
//	DIR/current -> releases/<tree hash>
//	DIR/releases/<tree hash>/index.html, pubkeys.gpg, <rendered template paths>
package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
)

// Options says what to publish where.
type Options struct {
	// Dir is the publish directory; the served web root is Dir/current.
	Dir string
	// Images are ACI files; each needs its signature FILE.asc beside it.
	Images []string
	// PubKeys are armored public key files (BASE.pub.asc); every image must
	// be signed by one of them. They are published as pubkeys.gpg.
	PubKeys []string
	// BaseURL is where the web root is served, e.g. https://example.com:8443.
	BaseURL string
	// Template is the discovery URL template relative to BaseURL
	// (DefaultTemplate when empty).
	Template string
	// Prefixes are the discovery prefixes to announce. Empty means each
	// image name and each name's first path element (its host).
	Prefixes []string
	// OCISigner, when set, signs every published OCI image (see oci.go)
	// with containers simple signing, for HOST[:PORT] of BaseURL.
	OCISigner *openpgp.Entity
}

// Entry is one published image.
type Entry struct {
	Source   string // the ACI file published
	Path     string // its path in the web root
	Name     string
	Labels   map[string]string
	ID       string
	Size     int64
	Signer   string
	IsLatest bool // Path is the `latest` copy
}

// Result reports a publish.
type Result struct {
	// Root is the served web root (Dir/current) and Tree the release it
	// points to.
	Root, Tree string
	// Changed is false when the same tree was already published.
	Changed  bool
	Entries  []Entry
	Prefixes []string
	// OCI lists the OCI manifests published under v2/ (one per tag).
	OCI []Entry
}

// Describe says what a publish of images ACI files did, for people: one
// line, plus one for the OCI repositories when there are any.
func (r Result) Describe(images int) []string {
	state := "published"
	if !r.Changed {
		state = "up to date"
	}
	out := []string{fmt.Sprintf("%s %d images (%d paths with the latest copies) in %s -> %s; discovery prefixes: %s", state, images, len(r.Entries),
		r.Root, filepath.Base(r.Tree), strings.Join(r.Prefixes, ", "))}
	if len(r.OCI) > 0 {
		var refs []string
		for _, e := range r.OCI {
			refs = append(refs, strings.TrimPrefix(strings.Replace(e.Path, "/manifests/", ":", 1), "v2/"))
		}
		out = append(out, fmt.Sprintf("OCI %s (signatures under sigstore/)", strings.Join(refs, ", ")))
	}
	return out
}

// WebRoot returns the directory a server should serve for publish
// directory dir: dir/current when it exists (a published tree), else dir.
func WebRoot(dir string) string {
	cur := filepath.Join(dir, "current")
	if fi, err := os.Stat(cur); err == nil && fi.IsDir() {
		return cur
	}
	return dir
}

type image struct {
	*aci.Image
	// sig is the signature file beside the ACI.
	sig string
	// labels are the manifest's labels (read once).
	labels map[string]string
	// signer names the publishing key that signed it.
	signer string
}

// Publish verifies every image and swaps in a new web root holding them.
func Publish(ctx context.Context, opts Options) (Result, error) {
	var res Result
	if opts.Dir == "" {
		return res, errors.New("publish: no directory: set PUBLISH_DIR or pass one")
	}
	if opts.Template == "" {
		opts.Template = DefaultTemplate
	}
	if err := CheckTemplate(opts.Template); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return res, fmt.Errorf("publish: base URL %q must start with https:// (set PUBLISH_BASE_URL)", opts.BaseURL)
	}
	if len(opts.Images) == 0 {
		return res, errors.New("publish: no images to publish: build some first (they are read from S1B_ACI_DIR and S1B_OUT_DIR)")
	}
	if len(opts.PubKeys) == 0 {
		return res, errors.New("publish: no public key: set SIGNING_KEY (BASE.pub.asc) so published images can be verified")
	}
	keys, armored, err := readPubKeys(opts.PubKeys)
	if err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}

	// Check every image before anything is written.
	var imgs []*image
	for _, src := range opts.Images {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		im, err := check(ctx, src, keys)
		if err != nil {
			return res, fmt.Errorf("publish: refusing %s: %w", src, err)
		}
		imgs = append(imgs, im)
	}

	// Plan the layout: every image at its rendered path, plus latest copies.
	type placed struct {
		im     *image
		rel    string
		latest bool
	}
	var plan []placed
	byPath := map[string]string{}
	add := func(im *image, labels map[string]string, latest bool) error {
		for _, ext := range []string{"aci"} {
			p, err := Render(opts.Template, im.Name(), labels, ext)
			if err != nil {
				return err
			}
			rel, err := relPath(p)
			if err != nil {
				return err
			}
			if other, dup := byPath[rel]; dup && other != im.Path {
				return fmt.Errorf("%s and %s both render to %s: add a distinguishing label to the template", other, im.Path, rel)
			}
			if rel == "index.html" || rel == "pubkeys.gpg" || reservedOCI(rel) {
				return fmt.Errorf("%s renders to the reserved path %s", im.Path, rel)
			}
			byPath[rel] = im.Path
			plan = append(plan, placed{im, rel, latest})
		}
		return nil
	}
	newest := map[string]*image{} // name + other labels -> newest version
	for _, im := range imgs {
		if err := add(im, im.labels, false); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
		k := latestKey(im)
		if cur, ok := newest[k]; !ok || store.Newer(store.Image{Labels: im.labels}, store.Image{Labels: cur.labels}) {
			newest[k] = im
		}
	}
	for _, im := range newest {
		if im.labels["version"] == "latest" {
			continue
		}
		l := copyLabels(im.labels)
		l["version"] = "latest"
		if err := add(im, l, true); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].rel < plan[j].rel })

	prefixes := opts.Prefixes
	if len(prefixes) == 0 {
		prefixes = defaultPrefixes(imgs)
	}
	var entries []Entry
	for _, p := range plan {
		entries = append(entries, Entry{Source: p.im.Path, Path: p.rel, Name: p.im.Name(), Labels: p.im.labels,
			ID: p.im.ID, Size: p.im.Size, Signer: p.im.signer, IsLatest: p.latest})
	}
	html, err := IndexHTML(base, opts.Template, prefixes, entries)
	if err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}

	// Build the new tree beside the old one.
	releases := filepath.Join(opts.Dir, "releases")
	if err := os.MkdirAll(releases, 0o755); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	// Trees left by publishes that died (killed, timed out) go first; the
	// new one is locked while it is built (see fsutil.SweepStale).
	if _, err := fsutil.SweepStale(releases, ".tmp-*"); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	lt, err := fsutil.MkdirTempLocked(releases, ".tmp-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	tmp := lt.Path
	defer func() { _ = fsutil.RemoveAll(tmp); lt.Release() }()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return res, err
	}
	for _, p := range plan {
		dst := filepath.Join(tmp, filepath.FromSlash(p.rel))
		if err := linkOrCopy(p.im.Path, dst); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
		if err := linkOrCopy(p.im.sig, dst+".asc"); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
	}
	ociEntries, err := publishOCI(tmp, imgs, newest, base, opts.OCISigner)
	if err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "pubkeys.gpg"), armored, 0o644); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "index.html"), html, 0o644); err != nil {
		return res, err
	}
	sum, err := treeHash(ctx, tmp)
	if err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	tree := filepath.Join(releases, sum[:16])
	res = Result{Root: filepath.Join(opts.Dir, "current"), Tree: tree, Entries: entries, Prefixes: prefixes, OCI: ociEntries}
	if old, err := os.Readlink(res.Root); err == nil && filepath.Base(old) == filepath.Base(tree) {
		if h, err := treeHash(ctx, tree); err == nil && h == sum {
			return res, nil // already published, intact
		}
	}
	if _, err := os.Stat(tree); err == nil {
		if err := fsutil.RemoveAll(tree); err != nil {
			return res, err
		}
	}
	if err := syncTree(tmp); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("publish: %w", context.Cause(ctx)) // never swap after Ctrl-C
	}
	if err := os.Rename(tmp, tree); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	prev, _ := os.Readlink(res.Root)
	link := filepath.Join(opts.Dir, ".current.tmp")
	_ = os.Remove(link)
	if err := os.Symlink(filepath.Join("releases", filepath.Base(tree)), link); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	if err := os.Rename(link, res.Root); err != nil {
		_ = os.Remove(link)
		return res, fmt.Errorf("publish: swapping %s: %w", res.Root, err)
	}
	if d, err := os.Open(opts.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	res.Changed = true
	// Keep the new tree and the previous one (requests in flight may still
	// read it); older releases go.
	ents, _ := os.ReadDir(releases)
	for _, e := range ents {
		n := e.Name()
		if n != filepath.Base(tree) && n != filepath.Base(prev) && !strings.HasPrefix(n, ".tmp-") {
			_ = fsutil.RemoveAll(filepath.Join(releases, n))
		}
	}
	return res, nil
}

func copyLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// latestKey groups images that share a `latest` copy: same name and same
// labels apart from version.
func latestKey(im *image) string {
	var ks []string
	for k, v := range im.labels {
		if k != "version" {
			ks = append(ks, k+"="+v)
		}
	}
	sort.Strings(ks)
	return im.Name() + "," + strings.Join(ks, ",")
}

func defaultPrefixes(imgs []*image) []string {
	set := map[string]bool{}
	for _, im := range imgs {
		set[im.Name()] = true
		host, _, _ := strings.Cut(im.Name(), "/")
		set[host] = true
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	// Longest (most specific) first, then alphabetical.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// check validates src and its signature.
func check(ctx context.Context, src string, keys []string) (*image, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	sig := src + ".asc"
	if _, err := os.Stat(sig); err != nil {
		return nil, fmt.Errorf("it is not signed (no %s): sign it with `mage sign:file %s`", sig, src)
	}
	if err := validate(src); err != nil {
		return nil, err
	}
	ai, err := aci.Open(src)
	if err != nil {
		return nil, err
	}
	signer, err := sign.Verifier{Keys: keys}.VerifyFile(ctx, "", src)
	if err != nil {
		return nil, fmt.Errorf("its signature does not verify with the publishing key(s): %w", err)
	}
	return &image{Image: ai, sig: sig, labels: ai.Labels(), signer: signer}, nil
}

// readPubKeys reads armored public keys and returns their file names and
// one armored block holding all of them (pubkeys.gpg).
func readPubKeys(files []string) ([]string, []byte, error) {
	var all openpgp.EntityList
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("public key: %w", err)
		}
		if bytes.Contains(data, []byte("PRIVATE KEY")) {
			return nil, nil, fmt.Errorf("%s is a private key: publish the public key (BASE.pub.asc)", f)
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, nil, fmt.Errorf("public key %s: %w", f, err)
		}
		for _, e := range el {
			fp := sign.Fingerprint(e)
			if !seen[fp] {
				seen[fp] = true
				all = append(all, e)
			}
		}
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range all {
		if err := e.Serialize(w); err != nil {
			return nil, nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	buf.WriteByte('\n')
	return files, buf.Bytes(), nil
}

// linkOrCopy hard-links src to dst, copying when linking is impossible.
func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// treeHash hashes the relative paths and contents of every file under dir.
// Reading checks ctx per chunk, so Ctrl-C stops it inside a large image.
func treeHash(ctx context.Context, dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fh := sha256.New()
		if _, err := io.Copy(fh, fsutil.CtxReader(ctx, f)); err != nil {
			return err
		}
		fmt.Fprintf(h, "%x\n", fh.Sum(nil))
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_ = f.Sync()
		return f.Close()
	})
}
