package targets

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/recipes"
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
	return run(ctx, "publish", func(ctx context.Context, c *config.Config) error {
		opts, err := publishOptions(ctx, c, deref(dir))
		if err != nil || planning(ctx) {
			return dryRunSays(ctx, err, "publish: would publish %d images from %s and %s into %s", len(opts.Images), c.ACIDir, c.OutDir, opts.Dir)
		}
		res, err := publish.Publish(ctx, opts)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			step.Logf(ctx, "%s -> %s", e.Source, e.Path)
		}
		for _, line := range res.Describe(len(opts.Images)) {
			step.Summaryf(ctx, "publish: %s", line)
		}
		return nil
	})
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
	return run(ctx, "repackage", func(ctx context.Context, c *config.Config) error {
		l, err := aci.ParseLabelEdits("repackage: -labels", deref(labels))
		if err != nil {
			return err
		}
		out, id, err := recipes.Repackage(ctx, recipes.RepackageOptions{Src: src, Name: name, Labels: l,
			Locator: locatorFor(c), OutDir: c.ACIDir, TempDir: c.BuildDir, Signer: signerFor(c)})
		if err != nil {
			return err
		}
		if planning(ctx) {
			step.Summaryf(ctx, "repackage: would write %s named %s and sign it", out, name)
			return nil
		}
		step.Summaryf(ctx, "repackage: wrote %s (+ .asc) named %s, %s; run `mage publish` to serve it", out, name, id)
		return nil
	})
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
	return run(ctx, "certs", func(ctx context.Context, c *config.Config) error {
		if err := c.Require("CERT_DIR", "CERT_HOSTS"); err != nil {
			return err
		}
		if planning(ctx) {
			step.Summaryf(ctx, "certs: would make sure %s holds a CA and a server certificate for %s", c.CertDir, strings.Join(c.CertHosts, ", "))
			return nil
		}
		res, err := certs.Ensure(c.CertDir, c.CertHosts)
		if err != nil {
			return err
		}
		if step.Summaryf(ctx, "certs: %s", res.Describe(c.CertHosts)); res.CACert != "" {
			step.Printf(ctx, "%s\n", certs.TrustHint(res.CACert))
		}
		return nil
	})
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
	return run(ctx, "serve", func(ctx context.Context, c *config.Config) error {
		opts, err := serveOptions(ctx, c, deref(plain))
		if err != nil || planning(ctx) {
			return dryRunSays(ctx, err, "serve: would serve %s on %s", opts.Root, c.ServeAddr)
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := serve.ListenAndServe(ctx, c.ServeAddr, opts); err != nil {
			return err
		}
		step.Summaryf(ctx, "serve: stopped")
		return nil
	})
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
	return run(ctx, "fetch", func(ctx context.Context, c *config.Config) error {
		n, err := fetchNet(c, name, port, insecure, http)
		if err != nil || planning(ctx) { // a dry run opens (creates) no store
			return dryRunSays(ctx, err, "fetch: would fetch %s into %s", name, c.StoreDir)
		}
		st, err := store.Open(c.StoreDir)
		if err != nil {
			return err
		}
		start := time.Now()
		res, err := fetch.Fetch(ctx, name, fetch.Options{Net: n, Store: st, Trust: sign.TrustStore{Dir: c.TrustDir}, NoStore: deref(pull)})
		if err == nil {
			step.Summaryf(ctx, "fetch: %s", res.Describe(time.Since(start)))
			fmt.Println(res.Image.ID)
		}
		return err
	})
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
	return run(ctx, "trust", func(ctx context.Context, c *config.Config) error {
		opts, err := trustOptions(c, key, deref(prefix), deref(fingerprint), deref(root), port, insecure, http)
		if err != nil {
			return err
		}
		if planning(ctx) {
			step.Summaryf(ctx, "trust: would trust keys from %s for %q in %s", key, opts.Prefix, c.TrustDir)
			return nil
		}
		return trustKeys(ctx, c, opts)
	})
}

// dryRunSays returns err, or in a dry run without error prints what the
// target would do.
func dryRunSays(ctx context.Context, err error, format string, a ...any) error {
	if err == nil && planning(ctx) {
		step.Summaryf(ctx, format, a...)
	}
	return err
}

// trustKeys is the one way keys enter the trust store (trust, and
// sign:trust, its alias): every key's fingerprint must match
// opts.Fingerprint or be confirmed on a terminal.
func trustKeys(ctx context.Context, c *config.Config, opts fetch.TrustOptions) error {
	if opts.Fingerprint == "" && term.IsTerminal(int(os.Stdin.Fd())) {
		opts.Confirm = fetch.PromptConfirm(os.Stdin, os.Stdout, opts.Prefix)
	}
	keys, err := fetch.Trust(ctx, opts)
	for _, k := range keys {
		step.Summaryf(ctx, "trust: trusted %s (%s) from %s for %q in %s", k.Fingerprint, k.UserID, k.Source, opts.Prefix, c.TrustDir)
	}
	return err
}

// Store groups the image store targets (STORE_DIR, filled by fetch):
// list, export, manifest, rm, gc. (Named store, not images: `mage images`
// and `mage buildImages` build the image recipes.)
type Store mg.Namespace

func regStore(ctx context.Context) (*store.Store, error) {
	_, c, err := load(ctx)
	if err != nil {
		return nil, err
	}
	return store.Open(c.StoreDir)
}

// List shows the stored images: short ID, name, labels, size, import time.
//
// Usage: mage store:list
func (Store) List(ctx context.Context) error {
	return run(ctx, "store:list", func(ctx context.Context, c *config.Config) error {
		ims, err := store.List(c.StoreDir) // read-only: creates no store
		if err != nil {
			return err
		}
		return store.WriteTable(os.Stdout, ims)
	})
}

// Export writes a stored image and its signature to OUT.
//
// It writes a stored image (NAME[:VERSION][,label=value...] or ID) to
// OUT, byte-identical to what was fetched, and its signature to OUT.asc.
//
// Usage: mage store:export IMAGE OUT
func (Store) Export(ctx context.Context, image, out string) error {
	st, err := regStore(ctx)
	if err != nil {
		return err
	}
	im, err := st.Export(image, out)
	if err != nil {
		return err
	}
	step.Summaryf(ctx, "store:export: wrote %s (%s %s)", out, im.Name, im.ShortID())
	return nil
}

// Manifest prints a stored image's manifest as it is in the image.
//
// Usage: mage store:manifest IMAGE
func (Store) Manifest(ctx context.Context, image string) error {
	st, err := regStore(ctx)
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
// Usage: mage store:rm IMAGE
func (Store) Rm(ctx context.Context, image string) error {
	st, err := regStore(ctx)
	if err != nil {
		return err
	}
	gone, err := st.Rm(image)
	if err != nil {
		return err
	}
	for _, im := range gone {
		step.Summaryf(ctx, "store:rm: removed %s %s", im.Name, im.ShortID())
	}
	return nil
}

// Gc removes unreferenced blobs and downloads of dead fetches.
//
// It removes blobs no stored image refers to and downloads left by
// interrupted fetches (at once: a running fetch holds a lock on its own).
//
// Usage: mage store:gc
func (Store) Gc(ctx context.Context) error {
	st, err := regStore(ctx)
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
	step.Summaryf(ctx, "store:gc: removed %d files", len(gone))
	return nil
}
