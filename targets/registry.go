package targets

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/bench"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
	"golang.org/x/term"
)

// Publish lays out a signed image tree for discovery and OCI pulls.
//
// It lays out a signed image tree for discovery: every ACI from
// S1B_ACI_DIR and S1B_OUT_DIR with its signature at the path
// PUBLISH_URL_TEMPLATE gives, a `latest` copy of each name's newest version,
// pubkeys.gpg and an index.html with ac-discovery tags.
//
// Usage: mage publish [-dir=DIR]
//
// DIR defaults to PUBLISH_DIR; the served web root is DIR/current, a symlink
// swapped atomically to a complete new tree, so a server never sees a
// half-published one; publishing unchanged images changes nothing. Every
// image must be a valid ACI signed (FILE.asc) by the configured SIGNING_KEY
// (its BASE.pub.asc is published as pubkeys.gpg); an unsigned or invalid
// one is refused and nothing is published. Discovery tags point at
// PUBLISH_BASE_URL.
//
// An ACI with an OCI layout beside it (X.oci, from `mage images` with
// IMAGE_FORMATS=aci,oci) is also published for OCI clients: the read-only
// distribution API as static files under v2/ (repository = ACI name, tags
// = version label and latest) and simple-signing signatures by SIGNING_KEY
// under sigstore/, bound to the host of PUBLISH_BASE_URL.
func Publish(ctx context.Context, dir *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	if err := c.Require("PUBLISH_BASE_URL", "SIGNING_KEY"); err != nil {
		return err
	}
	out := c.PublishDir
	if dir != nil && *dir != "" {
		out = *dir
	}
	images, err := regFindImages(c.ACIDir, c.OutDir)
	if err != nil {
		return err
	}
	pub := sign.KeyFile(c.SigningKey, sign.PublicKeySuffix)
	if step.IsDryRun() {
		step.Summaryf("publish: would publish %d images from %s and %s into %s", len(images), c.ACIDir, c.OutDir, out)
		return nil
	}
	ociSigner, err := publishOCISigner(c, images)
	if err != nil {
		return err
	}
	res, err := publish.Publish(ctx, publish.Options{
		Dir: out, Images: images, PubKeys: []string{pub}, BaseURL: c.PublishBaseURL, Template: c.PublishURLTemplate,
		OCISigner: ociSigner,
	})
	if err != nil {
		return err
	}
	for _, e := range res.Entries {
		step.Logf(ctx, "%s -> %s", e.Source, e.Path)
	}
	state := "published"
	if !res.Changed {
		state = "up to date"
	}
	step.Summaryf("publish: %s %d images (%d paths with the latest copies) in %s -> %s; discovery prefixes: %s", state, len(images), len(res.Entries),
		res.Root, filepath.Base(res.Tree), strings.Join(res.Prefixes, ", "))
	publishOCISummary(res)
	return nil
}

// regFindImages lists the .aci files under the given directories.
func regFindImages(dirs ...string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == d {
					return filepath.SkipDir
				}
				return err
			}
			if e.IsDir() && p != d && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".aci") && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("publish: looking for images in %s: %w", d, err)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Repackage re-publishes an image under a new name, signed.
//
// It re-publishes an image under a new name (the guide's "add public
// images to your own registry"): it takes SRC (an ACI file, or a stored
// image NAME[:VERSION] / ID), renames it in the manifest to NAME, rebuilds
// the ACI and signs it with SIGNING_KEY.
//
// Usage: mage repackage SRC NAME [-labels=k=v,...]
//
// The result is S1B_ACI_DIR/<last part of NAME>-<version>-<os>-<arch>.aci
// (+ .asc), ready for `mage publish`. -labels sets labels (an empty value
// removes one). The signing key is generated on first use (KEY_USE_*).
func Repackage(ctx context.Context, src, name string, labels *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	p := aci.PatchOptions{Name: name, Labels: map[string]string{}}
	if labels != nil && *labels != "" {
		for _, kv := range strings.Split(*labels, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("repackage: label %q is not key=value", kv)
			}
			p.Labels[k] = v
		}
	}
	in := src
	if _, err := os.Stat(src); err != nil {
		st, err := store.Open(c.StoreDir)
		if err != nil {
			return err
		}
		im, err := st.Resolve(src)
		if err != nil {
			return fmt.Errorf("repackage: %s is neither a file nor a stored image: %w", src, err)
		}
		// Export first: the store's blobs are named by ID, not *.aci.
		tmp, err := os.MkdirTemp(c.BuildDir, "repackage-")
		if err != nil {
			return err
		}
		defer step.RemoveAll(tmp)
		in = filepath.Join(tmp, "exported.aci")
		if _, err := st.Export(im.ID, in); err != nil {
			return fmt.Errorf("repackage: %w", err)
		}
		step.Logf(ctx, "repackaging stored %s (%s)", im.Name, im.ShortID())
	}
	m, err := aci.ReadManifest(in)
	if err != nil {
		return fmt.Errorf("repackage: %w", err)
	}
	nm, err := aci.ApplyPatch(m, p)
	if err != nil {
		return fmt.Errorf("repackage: %w", err)
	}
	l := map[string]string{}
	for _, x := range nm.Labels {
		l[x.Name.String()] = x.Value
	}
	base := name[strings.LastIndex(name, "/")+1:]
	for _, k := range []string{"version", "os", "arch"} {
		if l[k] != "" {
			base += "-" + l[k]
		}
	}
	out := filepath.Join(c.ACIDir, base+".aci")
	if step.IsDryRun() {
		step.Summaryf("repackage: would write %s named %s and sign it", out, name)
		return nil
	}
	if err := os.MkdirAll(c.ACIDir, 0o755); err != nil {
		return err
	}
	id, err := aci.Patch(ctx, in, out, p)
	if err != nil {
		return fmt.Errorf("repackage: %w", err)
	}
	if err := sign.SignArtifact(c, out); err != nil {
		os.Remove(out)
		return fmt.Errorf("repackage: %w", err)
	}
	step.Summaryf("repackage: wrote %s (+ .asc) named %s, %s; run `mage publish` to serve it", out, name, id)
	return nil
}

// Certs makes the registry's CA and server certificate in CERT_DIR.
//
// It makes the registry's TLS material in CERT_DIR: a CA (ca.crt,
// ca.key) and a server certificate (server.crt, server.key) for CERT_HOSTS.
//
// Usage: mage certs
//
// Keys are mode 0600. Existing valid material is reused; a server
// certificate missing a host of CERT_HOSTS or close to expiry is reissued.
// To use your own certificate, put server.crt and server.key in CERT_DIR
// (without ca.key). Prints how to make clients trust the CA.
func Certs(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	if err := c.Require("CERT_DIR", "CERT_HOSTS"); err != nil {
		return err
	}
	if step.IsDryRun() {
		step.Summaryf("certs: would make sure %s holds a CA and a server certificate for %s", c.CertDir, strings.Join(c.CertHosts, ", "))
		return nil
	}
	res, err := certs.Ensure(c.CertDir, c.CertHosts)
	if err != nil {
		return err
	}
	switch {
	case res.UserProvided:
		step.Summaryf("certs: using the provided %s", res.ServerCert)
	case len(res.Generated) == 0:
		step.Summaryf("certs: %s and %s are valid for %s; reused", res.CACert, res.ServerCert, strings.Join(c.CertHosts, ", "))
	default:
		step.Summaryf("certs: wrote %s", strings.Join(res.Generated, ", "))
	}
	if res.CACert != "" {
		step.Printf("%s\n", certs.TrustHint(res.CACert))
	}
	return nil
}

// Serve serves the published tree over HTTPS until Ctrl-C.
//
// It serves the published web root (PUBLISH_DIR) over HTTPS on
// SERVE_ADDR until Ctrl-C, answering appc discovery (?ac-discovery=1).
//
// Usage: mage serve [-plain]
//
// TLS material comes from CERT_DIR and is generated first when absent (see
// `mage certs`). Only files under the web root are served — no dotfiles, no
// key material, no listings — with range requests and an access log on
// stdout. -plain serves plain HTTP instead (only for testing behind a TLS
// proxy; rkt and `mage fetch` then need their insecure options).
func Serve(ctx context.Context, plain *bool) error {
	c, err := load()
	if err != nil {
		return err
	}
	if err := c.Require("PUBLISH_DIR", "SERVE_ADDR"); err != nil {
		return err
	}
	// The publish directory itself: the server follows its `current`
	// symlink per request, so a publish after start is picked up.
	opts := serve.Options{Root: c.PublishDir, Log: os.Stdout, Plain: plain != nil && *plain}
	if !opts.Plain {
		res, err := certs.Ensure(c.CertDir, c.CertHosts)
		if err != nil {
			return err
		}
		if len(res.Generated) > 0 {
			step.Summaryf("serve: generated %s", strings.Join(res.Generated, ", "))
		}
		opts.CertFile, opts.KeyFile = res.ServerCert, res.ServerKey
	}
	if step.IsDryRun() {
		step.Summaryf("serve: would serve %s on %s", opts.Root, c.ServeAddr)
		return nil
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	scheme := "https"
	if opts.Plain {
		scheme = "http"
	}
	opts.Ready = func(addr net.Addr) {
		step.Summaryf("serve: %s on %s://%s (discovery tags point at %s); Ctrl-C stops", opts.Root, scheme, addr, c.PublishBaseURL)
	}
	if err := serve.ListenAndServe(ctx, c.ServeAddr, opts); err != nil {
		return err
	}
	step.Summaryf("serve: stopped")
	return nil
}

// regNet returns the network options for fetch and trust: the system CAs
// plus CERT_DIR/ca.crt when it exists, and the discovery port (-port, or
// the port of PUBLISH_BASE_URL when the name's host is that URL's host).
func regNet(c *config.Config, name string, port *int, insecure, plainHTTP *bool) (fetch.Net, error) {
	n := fetch.Net{InsecureTLS: insecure != nil && *insecure, InsecureHTTP: plainHTTP != nil && *plainHTTP}
	n.IdleTimeout, _ = c.IdleTimeout() // validated when the configuration was loaded
	if ca, err := os.ReadFile(filepath.Join(c.CertDir, certs.CACertFile)); err == nil {
		n.ExtraCAs = ca
	}
	switch {
	case port != nil:
		if *port < 0 || *port > 65535 {
			return n, fmt.Errorf("-port=%d is not a TCP port", *port)
		}
		n.Port = uint(*port)
	default:
		host, _, _ := strings.Cut(name, "/")
		if u, err := url.Parse(c.PublishBaseURL); err == nil && u.Hostname() == host && u.Port() != "" {
			p, _ := strconv.Atoi(u.Port())
			n.Port = uint(p)
		}
	}
	return n, nil
}

// Fetch fetches an image by name into the store, as `rkt fetch` did.
//
// It fetches an image by name into the image store (STORE_DIR), as `rkt
// fetch` did.
//
// Usage: mage fetch NAME[:VERSION][,label=value...] [-port=N] [-pull] [-insecure] [-http]
//
// Discovery (https://NAME?ac-discovery=1, walking up the path) finds the
// ACI and signature URLs; the signature must verify against TRUST_DIR (see
// `mage trust`) and the manifest must carry the requested name and labels
// (os and arch default to the host's) before anything is stored. A pinned
// version that is stored is not downloaded again; without a version the
// registry's `latest` is asked for and only its signature is downloaded
// when that image is already stored. -port is the discovery port (default:
// PUBLISH_BASE_URL's port when NAME's host is that URL's host). -pull
// always downloads. -insecure skips TLS verification and -http allows plain
// HTTP: both only for testing. CAs: the system's plus CERT_DIR/ca.crt.
func Fetch(ctx context.Context, name string, port *int, pull, insecure, http *bool) error {
	c, err := load()
	if err != nil {
		return err
	}
	n, err := regNet(c, name, port, insecure, http)
	if err != nil {
		return err
	}
	if step.IsDryRun() { // before opening (creating) the store: a dry run writes nothing
		step.Summaryf("fetch: would fetch %s into %s", name, c.StoreDir)
		return nil
	}
	st, err := store.Open(c.StoreDir)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := fetch.Fetch(ctx, name, fetch.Options{Net: n, Store: st, Trust: sign.TrustStore{Dir: c.TrustDir}, NoStore: pull != nil && *pull})
	if err != nil {
		return err
	}
	if !res.Downloaded {
		step.Summaryf("fetch: %s %s is stored (nothing downloaded)", res.Image.Name, res.Image.ShortID())
	} else {
		el := time.Since(start).Seconds()
		step.Summaryf("fetch: stored %s %s (%s in %.2fs, %.1f MB/s), signed by %s", res.Image.Name, res.Image.ShortID(),
			regSize(res.Bytes), el, float64(res.Bytes)/1e6/max(el, 1e-3), res.Image.Signer)
	}
	fmt.Println(res.Image.ID)
	return nil
}

// Trust adds an image-name prefix's public keys to the trust store.
//
// It adds the public key(s) for an image-name prefix to the rkt-layout
// trust store TRUST_DIR, from a KEY file or discovered (`discover`) from
// the prefix's ac-discovery-pubkeys tag.
//
// Usage: mage trust KEY|discover -prefix=PREFIX [-fingerprint=FPR] [-root] [-port=N] [-insecure] [-http]
//
// Every key's fingerprint is shown and must be confirmed: interactively on
// a terminal, or with -fingerprint (the only key accepted; use this in
// scripts). Nothing is trusted silently. -root trusts a KEY for every name
// (root.d). -port, -insecure and -http are as for `mage fetch`.
func Trust(ctx context.Context, key string, prefix, fingerprint *string, root *bool, port *int, insecure, http *bool) error {
	c, err := load()
	if err != nil {
		return err
	}
	p := ""
	if prefix != nil {
		p = *prefix
	}
	n, err := regNet(c, p, port, insecure, http)
	if err != nil {
		return err
	}
	opts := fetch.TrustOptions{Net: n, Store: sign.TrustStore{Dir: c.TrustDir}, Prefix: p, Root: root != nil && *root}
	if key != "discover" {
		opts.KeyFile = sign.KeyFile(key, sign.PublicKeySuffix)
	}
	if fingerprint != nil {
		opts.Fingerprint = *fingerprint
	}
	return trustKeys(ctx, c, opts, key)
}

// trustKeys is the one way keys enter the trust store: every key's
// fingerprint must match opts.Fingerprint or be confirmed on a terminal.
func trustKeys(ctx context.Context, c *config.Config, opts fetch.TrustOptions, from string) error {
	p := opts.Prefix
	if opts.Fingerprint == "" && term.IsTerminal(int(os.Stdin.Fd())) {
		in := bufio.NewReader(os.Stdin)
		opts.Confirm = func(fpr, uid, src string) (bool, error) {
			where := "every image name"
			if p != "" {
				where = "images under " + p
			}
			fmt.Printf("Key from %s\n  fingerprint: %s\n  user:        %s\nTrust it for %s? [y/N] ", src, fpr, uid, where)
			line, err := in.ReadString('\n')
			if err != nil {
				return false, fmt.Errorf("trust: reading the answer: %w", err)
			}
			a := strings.ToLower(strings.TrimSpace(line))
			return a == "y" || a == "yes", nil
		}
	}
	if step.IsDryRun() {
		step.Summaryf("trust: would trust keys from %s for %q in %s", from, p, c.TrustDir)
		return nil
	}
	keys, err := fetch.Trust(ctx, opts)
	if err != nil {
		return err
	}
	for _, k := range keys {
		step.Summaryf("trust: trusted %s (%s) from %s for %q in %s", k.Fingerprint, k.UserID, k.Source, p, c.TrustDir)
	}
	return nil
}

// Images groups the image store targets (STORE_DIR): list, export,
// manifest, rm, gc.
type Images mg.Namespace

func regStore() (*store.Store, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	return store.Open(c.StoreDir)
}

// List shows the stored images: short ID, name, labels, size, import time.
//
// Usage: mage images:list
func (Images) List(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	var ims []store.Image
	// Listing is read-only: a store that does not exist yet is empty, and
	// is not created.
	if _, err := os.Stat(c.StoreDir); err == nil {
		st, err := store.Open(c.StoreDir)
		if err != nil {
			return err
		}
		if ims, err = st.List(); err != nil {
			return err
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tLABELS\tSIZE\tIMPORTED")
	for _, im := range ims {
		var ls []string
		for k, v := range im.Labels {
			ls = append(ls, k+"="+v)
		}
		sort.Strings(ls)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", im.ShortID(), im.Name, strings.Join(ls, ","), regSize(im.Size),
			im.Imported.Local().Format("2006-01-02 15:04:05"))
	}
	return w.Flush()
}

// Export writes a stored image and its signature to OUT.
//
// It writes a stored image (NAME[:VERSION][,label=value...] or ID) to
// OUT, byte-identical to what was fetched, and its signature to OUT.asc.
//
// Usage: mage images:export IMAGE OUT
func (Images) Export(ctx context.Context, image, out string) error {
	st, err := regStore()
	if err != nil {
		return err
	}
	im, err := st.Export(image, out)
	if err != nil {
		return err
	}
	step.Summaryf("images:export: wrote %s (%s %s)", out, im.Name, im.ShortID())
	return nil
}

// Manifest prints a stored image's manifest as it is in the image.
//
// Usage: mage images:manifest IMAGE
func (Images) Manifest(ctx context.Context, image string) error {
	st, err := regStore()
	if err != nil {
		return err
	}
	_, data, err := st.Manifest(image)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(data)
	return err
}

// Rm removes stored images by ID, ID prefix or NAME[:VERSION][,l=v].
//
// It removes stored images: an ID (or unique ID prefix), or every image
// matching NAME[:VERSION][,label=value...].
//
// Usage: mage images:rm IMAGE
func (Images) Rm(ctx context.Context, image string) error {
	st, err := regStore()
	if err != nil {
		return err
	}
	gone, err := st.Rm(image)
	if err != nil {
		return err
	}
	for _, im := range gone {
		step.Summaryf("images:rm: removed %s %s", im.Name, im.ShortID())
	}
	return nil
}

// Gc removes unreferenced blobs and downloads of dead fetches.
//
// It removes blobs no stored image refers to and downloads left by
// interrupted fetches (at once: a running fetch holds a lock on its own).
//
// Usage: mage images:gc
func (Images) Gc(ctx context.Context) error {
	st, err := regStore()
	if err != nil {
		return err
	}
	gone, err := st.Gc(time.Hour)
	if err != nil {
		return err
	}
	for _, p := range gone {
		step.Logf(ctx, "removed %s", p)
	}
	step.Summaryf("images:gc: removed %d files", len(gone))
	return nil
}

func init() {
	registerBench("fetch")
}

// Fetch times a loopback fetch against curl | gunzip | sha512sum.
//
// A generated ~96 MB image is published, served over HTTPS on 127.0.0.1 and fetched by name into an
// empty store (discovery, download, signature and structure checks, store
// with fsync), against `curl | gunzip | sha512sum` (the shell floor for
// download, decompression and the image ID hash) and plain `curl` on the
// same file from the same server. Median of BENCH_RUNS (default 3) runs after a warm-up round.
//
// Usage: mage bench:fetch
func (Bench) Fetch(ctx context.Context) error {
	if err := step.Need(ctx, step.Tool{Command: "curl", Package: "curl"}); err != nil {
		return err
	}
	c, err := load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.BuildDir, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(c.BuildDir, "bench-fetch-")
	if err != nil {
		return err
	}
	defer step.RemoveAll(dir)
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	res, err := bench.Fetch(ctx, bench.Options{Dir: dir, Runs: runs})
	if err != nil {
		return err
	}
	mb := float64(res.Bytes) / 1e6
	fmt.Printf("fetch of a %.1f MB ACI over loopback HTTPS: ours %.1f MB/s (download+verify+store), curl %.1f MB/s (download only)\n",
		mb, mb/res.Ours.Seconds(), mb/res.Peer.Seconds())
	fmt.Printf("sha512 alone (the image ID hash every fetch must compute) runs at %.0f MB/s here\n", res.SHA512MBps)
	fmt.Printf("ours %.3fs = %.2fx `curl | gunzip | sha512sum` (%.3fs; goal <= 1.3x), %.2fx plain curl (%.3fs)\n",
		res.Ours.Seconds(), res.Ours.Seconds()/res.Pipe.Seconds(), res.Pipe.Seconds(), res.Ours.Seconds()/res.Peer.Seconds(), res.Peer.Seconds())
	printBench("fetch", res.Ours, res.Pipe, "curl | gunzip | sha512sum")
	return nil
}

// regSize formats a byte count for people.
func regSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
