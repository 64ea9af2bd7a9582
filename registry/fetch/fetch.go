package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Options configures Fetch.
type Options struct {
	Net
	// Store receives verified images.
	Store *store.Store
	// Trust holds the keys images must be signed with.
	Trust sign.TrustStore
	// NoStore skips the store lookup: discover and download even when a
	// matching image is stored (the result is still stored once).
	NoStore bool
}

// Request is a parsed NAME[:VERSION][,label=value...] image reference.
type Request struct {
	Name string
	// Labels are the labels asked for, including "version" when given and
	// the host's "os" and "arch" unless given.
	Labels map[string]string
	// Latest is true when no version was given (discovery asks for
	// "latest" and any version is accepted).
	Latest bool
}

func (r Request) String() string {
	s := r.Name
	var ks []string
	for k := range r.Labels {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		s += "," + k + "=" + r.Labels[k]
	}
	return s
}

// ParseRequest parses NAME[:VERSION][,label=value...] with aci.ParseRef
// (rkt's syntax) and adds the host's os and arch labels.
func ParseRequest(ref string) (Request, error) {
	parsed, err := aci.ParseRef(ref)
	if err != nil {
		return Request{}, err
	}
	r := Request{Name: parsed.Name, Labels: parsed.Labels}
	if r.Labels["version"] == "" || r.Labels["version"] == "latest" {
		delete(r.Labels, "version")
		r.Latest = true
	}
	osName, arch, err := types.ToAppcOSArch(runtime.GOOS, runtime.GOARCH, "")
	if err != nil {
		return Request{}, err
	}
	if _, ok := r.Labels["os"]; !ok {
		r.Labels["os"] = osName
	}
	if _, ok := r.Labels["arch"]; !ok {
		r.Labels["arch"] = arch
	}
	return r, nil
}

func (r Request) app() discovery.App {
	app := discovery.App{Name: types.ACIdentifier(r.Name), Labels: map[types.ACIdentifier]string{}}
	for k, v := range r.Labels {
		app.Labels[types.ACIdentifier(k)] = v
	}
	if r.Latest {
		app.Labels["version"] = "latest"
	}
	return app
}

// Result reports a fetch.
type Result struct {
	Image store.Image
	// Downloaded is false when the image was already stored.
	Downloaded bool
	// Bytes is the number of ACI bytes downloaded.
	Bytes int64
}

// Describe says what the fetch did, for people: the image, and for a
// download its size, time, rate and signer.
func (r Result) Describe(elapsed time.Duration) string {
	if !r.Downloaded {
		return fmt.Sprintf("%s %s is stored (nothing downloaded)", r.Image.Name, r.Image.ShortID())
	}
	el := max(elapsed.Seconds(), 1e-3)
	return fmt.Sprintf("stored %s %s (%s in %.2fs, %.1f MB/s), signed by %s", r.Image.Name, r.Image.ShortID(),
		store.FormatSize(r.Bytes), elapsed.Seconds(), float64(r.Bytes)/1e6/el, r.Image.Signer)
}

// Fetch returns the stored image matching ref, discovering, downloading,
// verifying and storing it first when it is not stored yet.
func Fetch(ctx context.Context, ref string, opts Options) (Result, error) {
	req, err := ParseRequest(ref)
	if err != nil {
		return Result{}, err
	}
	if opts.Store == nil {
		return Result{}, errors.New("fetch: no image store: set STORE_DIR")
	}
	// A pinned version that is stored is final: no network at all. A
	// "latest" request asks the registry which image is latest (by its
	// small signature) before deciding; see fetchEndpoint.
	if !opts.NoStore && !req.Latest {
		im, ok, err := opts.Store.Find(req.Name, req.Labels)
		if err != nil {
			return Result{}, err
		}
		if ok {
			return Result{Image: im}, nil
		}
	}
	var eps discovery.ACIEndpoints
	var attempts []discovery.FailedAttempt
	err = opts.withDiscovery(func() error {
		var err error
		eps, attempts, err = discovery.DiscoverACIEndpoints(req.app(), nil, opts.insecure(), opts.Port)
		return err
	})
	if err != nil || len(eps) == 0 {
		msg := "no ac-discovery tag has a prefix of the name"
		if err != nil && err.Error() != "discovery failed" {
			msg = err.Error()
		}
		if len(attempts) > 0 {
			msg += "; failed requests: " + attemptsString(attempts)
		}
		return Result{}, fmt.Errorf("fetch %s: discovery found no image URL: %s: check the name, that the server's index.html has an ac-discovery tag whose prefix starts the name, and -port", req, msg)
	}
	client := opts.Client()
	var errs []string
	tried := map[string]bool{}
	for _, ep := range eps {
		// Several ac-discovery tags (prefixes) may render the same URLs:
		// try, and report, each once.
		if tried[ep.ACI+" "+ep.ASC] {
			continue
		}
		tried[ep.ACI+" "+ep.ASC] = true
		res, err := fetchEndpoint(ctx, client, req, ep, opts)
		if err == nil {
			return res, nil
		}
		var ve *verifyError
		if errors.As(err, &ve) || ctx.Err() != nil {
			return Result{}, fmt.Errorf("fetch %s: %w", req, err)
		}
		errs = append(errs, err.Error())
	}
	return Result{}, fmt.Errorf("fetch %s: every discovered URL failed: %s", req, strings.Join(errs, "; "))
}

// verifyError marks a failure of the image itself (as opposed to the
// network): trying another endpoint is not done, the error is final.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

func refuse(format string, args ...any) error {
	return &verifyError{fmt.Errorf(format, args...)}
}

func fetchEndpoint(ctx context.Context, client *http.Client, req Request, ep discovery.ACIEndpoint, opts Options) (Result, error) {
	sig, err := opts.getSmall(ctx, client, ep.ASC, 1<<20)
	if err != nil {
		return Result{}, fmt.Errorf("signature: %w", err)
	}
	if req.Latest && !opts.NoStore {
		if im, ok := storedWithSignature(opts, req, sig); ok {
			return Result{Image: im}, nil
		}
	}
	keyring, err := opts.Trust.Keyring(req.Name)
	if err != nil {
		return Result{}, refuse("trust store: %w", err)
	}
	if len(keyring) == 0 {
		return Result{}, refuse("no key in %s is trusted for %s: %w: trust the registry's key first (`mage trust discover -prefix=PREFIX -fingerprint=FINGERPRINT`)", opts.Trust.Dir, req.Name, sign.ErrUnknownKey)
	}
	resp, err := opts.get(ctx, client, ep.ACI)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()

	tmp, err := opts.Store.TempFile()
	if err != nil {
		return Result{}, err
	}
	stored := false
	defer func() {
		if !stored {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	// Download into the store's tmp/ while two goroutines check the bytes
	// as they arrive: one decompresses, hashes (image ID) and checks the
	// tar, the other verifies the signature against the keys trusted for
	// the name.
	var (
		check    aci.CheckResult
		checkErr error
		signer   string
		sigErr   error
	)
	prog := step.NewProgress(ctx, "fetch "+req.Name, resp.ContentLength)
	n, copyErr := fanout(io.MultiWriter(tmp, prog), resp.Body,
		func(r io.Reader) {
			check, checkErr = aci.Check(r)
			_, _ = io.Copy(io.Discard, r)
		},
		func(r io.Reader) {
			var e *openpgp.Entity
			e, sigErr = sign.Verify(keyring, r, bytes.NewReader(sig))
			if e != nil {
				signer = sign.UserID(e)
			}
			_, _ = io.Copy(io.Discard, r)
		})
	prog.Done()
	if copyErr != nil {
		if resp.ContentLength > 0 {
			return Result{}, fmt.Errorf("downloading %s: %w after %d of %d bytes: the download was truncated", ep.ACI, copyErr, n, resp.ContentLength)
		}
		return Result{}, fmt.Errorf("downloading %s: %w after %d bytes", ep.ACI, copyErr, n)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return Result{}, refuse("downloading %s: got %d of %d bytes: the download was truncated", ep.ACI, n, resp.ContentLength)
	}

	// 1. The signature, against the trust store, before anything else counts.
	if sigErr != nil {
		return Result{}, refuse("%s: verify %s: %w (nothing stored)", ep.ACI, req.Name, sigErr)
	}
	// 2. The structure, checked while downloading with the aci package's
	// archive rules (only manifest and rootfs/, no escapes through names,
	// symlinks or hard links, no duplicates); the manifest with the aci
	// package's schema validation.
	if checkErr != nil {
		return Result{}, refuse("%s: signed but not a valid ACI: %w (nothing stored)", ep.ACI, checkErr)
	}
	m, err := aci.ParseManifest(ep.ACI+": manifest", check.Manifest)
	if err != nil {
		return Result{}, refuse("%w (nothing stored)", err)
	}
	// 3. The manifest must be what was asked for.
	labels := aci.LabelMap(m.Labels)
	if m.Name.String() != req.Name {
		return Result{}, refuse("%s: the image is named %s, not %s as requested (nothing stored)", ep.ACI, m.Name, req.Name)
	}
	var bad []string
	for k, v := range req.Labels {
		if labels[k] != v {
			got := labels[k]
			if got == "" {
				got = "(none)"
			}
			bad = append(bad, fmt.Sprintf("%s=%s, requested %s", k, got, v))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return Result{}, refuse("%s: the image's labels differ from the request: %s (nothing stored)", ep.ACI, strings.Join(bad, "; "))
	}
	// tmp stays open, and so locked, until Add has consumed it: a
	// concurrent store:gc must not take it for a dead fetch's download.
	im, err := opts.Store.Add(tmp.Name(), sig, store.Image{ID: check.ID, Name: req.Name, Labels: labels, Source: ep.ACI, Signer: signer})
	stored = true
	tmp.Close()
	if err != nil {
		return Result{}, err
	}
	return Result{Image: im, Downloaded: true, Bytes: n}, nil
}

// storedWithSignature returns a stored image matching req whose stored
// signature is byte-identical to sig (the registry's current "latest") and
// still verifies against the trust store: then the latest image is already
// stored and nothing needs downloading.
func storedWithSignature(opts Options, req Request, sig []byte) (store.Image, bool) {
	ims, err := opts.Store.List()
	if err != nil {
		return store.Image{}, false
	}
	for _, im := range ims {
		if !store.Matches(im, req.Name, req.Labels) {
			continue
		}
		old, err := os.ReadFile(opts.Store.BlobPath(im.ID) + ".asc")
		if err != nil || !bytes.Equal(old, sig) {
			continue
		}
		f, err := opts.Store.Open(im.ID)
		if err != nil {
			continue
		}
		_, err = opts.Trust.Verify(req.Name, f, bytes.NewReader(sig))
		f.Close()
		if err == nil {
			return im, true
		}
	}
	return store.Image{}, false
}
