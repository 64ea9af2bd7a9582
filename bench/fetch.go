package bench

import (
	"bytes"
	"context"
	"crypto/sha512"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Fetch times a loopback fetch against `curl | gunzip | sha512sum`.
//
// The image of bench aci's tree (≥150 MB of host files, as a rootfs
// compresses; generated on first use) is signed, published, served over
// HTTPS on 127.0.0.1 and fetched by name into an empty store (discovery,
// download, signature and structure checks, store with fsync), against
// `curl | gunzip | sha512sum` (the shell floor for download, decompression
// and the image ID hash), plain `curl` and real `rkt fetch URL` (rkt.Build, cached under
// o.Rkt.WorkDir; o.NoRkt leaves it out) on the same file from the same
// server; medians of o.Runs (default 3) rounds after a warm-up round.
func Fetch(ctx context.Context, o Options) (Result, error) {
	base, err := o.dir("fetch")
	if err != nil {
		return Result{}, err
	}
	if err := fsutil.RemoveAll(base); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return Result{}, err
	}
	defer fsutil.RemoveAll(base)
	var rktTools *rkt.Tools
	if !o.NoRkt {
		t, err := rkt.Build(ctx, o.Rkt)
		if err != nil {
			return Result{}, fmt.Errorf("building real rkt for the comparison (NoRkt skips it): %w", err)
		}
		rktTools = &t
	}
	layout, err := aciTree(ctx, o)
	if err != nil {
		return Result{}, err
	}
	res, err := fetchLoopback(ctx, base, filepath.Join(layout, "rootfs"), o.runs(3), rktTools)
	if err != nil {
		return Result{}, err
	}
	mb := float64(res.Bytes) / 1e6
	step.Summaryf(ctx, "bench fetch: a %.1f MB ACI over loopback HTTPS: ours %.1f MB/s (download+verify+store), curl %.1f MB/s (download only)",
		mb, mb/res.Ours.Seconds(), mb/res.Peer.Seconds())
	step.Summaryf(ctx, "bench fetch: sha512 alone (the image ID hash every fetch must compute) runs at %.0f MB/s here", res.SHA512MBps)
	step.Summaryf(ctx, "bench fetch: ours %.3fs = %.2fx `curl | gunzip | sha512sum` (%.3fs; goal <= 1.3x), %.2fx plain curl (%.3fs)",
		res.Ours.Seconds(), res.Ours.Seconds()/res.Pipe.Seconds(), res.Pipe.Seconds(), res.Ours.Seconds()/res.Peer.Seconds(), res.Peer.Seconds())
	if rktTools != nil {
		step.Summaryf(ctx, "bench fetch: real rkt fetch of the same image by URL %.3fs: ours is %.2fx faster (goal >= 8x)", res.Rkt.Seconds(), res.Rkt.Seconds()/res.Ours.Seconds())
	}
	return Result{Ours: res.Ours, Peer: res.Pipe, PeerTool: "curl | gunzip | sha512sum"}, nil
}

// fetchResult holds the medians.
type fetchResult struct {
	// Ours is rktbuild's fetch; Peer is plain curl (download only);
	// Pipe is `curl | gunzip | sha512sum`, the shell floor for download,
	// decompression and the image ID hash, on the same file.
	// Rkt is real `rkt fetch` of the image's URL (download, signature,
	// store), when rkt was built.
	Ours, Peer, Pipe, Rkt time.Duration
	// Bytes is the size of the ACI file fetched.
	Bytes int64
	URL   string
	// SHA512MBps is the speed of sha512 alone on this machine: the image
	// ID (sha512 of the whole uncompressed tar) bounds fetch throughput.
	SHA512MBps float64
}

// fetchLoopback packs rootfs, publishes, serves and fetches the image in dir, runs+1
// rounds (the first warms caches).
func fetchLoopback(ctx context.Context, dir, rootfs string, runs int, rktTools *rkt.Tools) (fetchResult, error) {
	var res fetchResult
	const name = "127.0.0.1/bench/payload"
	key := filepath.Join(dir, "key")
	fpr, err := sign.GenKey(key, sign.Identity{Name: "rktbuild bench", Comment: "bench key", Email: "bench@localhost"}, 2048, nil)
	if err != nil {
		return res, err
	}
	cr, err := certs.Ensure(filepath.Join(dir, "certs"), []string{"127.0.0.1"})
	if err != nil {
		return res, err
	}
	m, err := aci.NewManifest(name, map[string]string{"version": "1.0.0"})
	if err != nil {
		return res, err
	}
	file := filepath.Join(dir, "images", "payload.aci")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return res, err
	}
	if _, err := aci.PackRootfs(ctx, m, rootfs, file, aci.PackOptions{ForceRoot: true}); err != nil {
		return res, err
	}
	if err := sign.SignFile(file, key, nil); err != nil {
		return res, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return res, err
	}
	res.Bytes = fi.Size()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	pub, err := publish.Publish(ctx, publish.Options{Dir: filepath.Join(dir, "www"), Images: []string{file},
		PubKeys: []string{key + sign.PublicKeySuffix}, BaseURL: base})
	if err != nil {
		ln.Close()
		return res, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(sctx, ln, serve.Options{Root: pub.Root, CertFile: cr.ServerCert, KeyFile: cr.ServerKey})
	}()
	defer func() { stop(); <-done }()

	ca, err := os.ReadFile(cr.CACert)
	if err != nil {
		return res, err
	}
	n := fetch.Net{ExtraCAs: ca, Port: uint(port)}
	trust := sign.TrustStore{Dir: filepath.Join(dir, "trust")}
	if _, err := fetch.Trust(ctx, fetch.TrustOptions{Net: n, Store: trust, Prefix: "127.0.0.1/bench", Fingerprint: fpr}); err != nil {
		return res, err
	}
	for _, e := range pub.Entries {
		if !e.IsLatest {
			res.URL = base + "/" + e.Path
		}
	}

	var ours, peer, pipe, rkts []time.Duration
	for i := 0; i < runs+1; i++ { // the first round of each warms caches
		sdir := filepath.Join(dir, fmt.Sprintf("store-%d", i))
		st, err := store.Open(sdir)
		if err != nil {
			return res, err
		}
		start := time.Now()
		r, err := fetch.Fetch(ctx, name+":1.0.0", fetch.Options{Net: n, Store: st, Trust: trust})
		if err != nil {
			return res, err
		}
		d := time.Since(start)
		if !r.Downloaded {
			return res, fmt.Errorf("bench: the fetch into an empty store downloaded nothing")
		}
		if err := fsutil.RemoveAll(sdir); err != nil {
			return res, err
		}

		out := filepath.Join(dir, "curl.aci")
		cmd := step.Command(ctx, "curl", "--fail", "--silent", "--show-error", "--cacert", cr.CACert, "-o", out, res.URL)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		cstart := time.Now()
		if err := cmd.Run(); err != nil {
			return res, fmt.Errorf("curl %s: %v: %s", res.URL, err, buf.String())
		}
		cd := time.Since(cstart)
		if cfi, err := os.Stat(out); err != nil || cfi.Size() != res.Bytes {
			return res, fmt.Errorf("curl downloaded a different size than the ACI (%v)", err)
		}
		os.Remove(out)

		shell := step.Command(ctx, "bash", "-o", "pipefail", "-c", `curl --fail --silent --show-error --cacert "$1" "$2" | gunzip | sha512sum`, "sh", cr.CACert, res.URL)
		buf.Reset()
		shell.Stdout, shell.Stderr = &buf, &buf
		pstart := time.Now()
		if err := shell.Run(); err != nil {
			return res, fmt.Errorf("curl | gunzip | sha512sum: %v: %s", err, buf.String())
		}
		pd := time.Since(pstart)
		if !bytes.HasPrefix(buf.Bytes(), []byte(strings.TrimPrefix(r.Image.ID, "sha512-"))) {
			return res, fmt.Errorf("curl | gunzip | sha512sum printed %q, our fetch stored %s", strings.TrimSpace(buf.String()), r.Image.ID)
		}
		var rd time.Duration
		if rktTools != nil {
			if rd, err = rktFetch(ctx, *rktTools, filepath.Join(dir, fmt.Sprintf("rkt-%d", i)), key+sign.PublicKeySuffix, cr.CACert, res.URL, r.Image.ID); err != nil {
				return res, err
			}
		}
		step.Logf(ctx, "round %d: ours %s, curl %s, curl|gunzip|sha512sum %s, rkt fetch %s", i, d, cd, pd, rd)
		if i > 0 {
			ours, peer, pipe, rkts = append(ours, d), append(peer, cd), append(pipe, pd), append(rkts, rd)
		}
	}
	res.Ours, res.Peer, res.Pipe, res.Rkt = medianOf(ours), medianOf(peer), medianOf(pipe), medianOf(rkts)
	buf := make([]byte, 64<<20)
	start := time.Now()
	sha512.Sum512(buf)
	res.SHA512MBps = float64(len(buf)) / 1e6 / time.Since(start).Seconds()
	return res, nil
}

// rktFetch times real `rkt fetch URL` into a fresh sandbox in dir that
// trusts pubKey for the image's prefix and the server's CA (SSL_CERT_FILE),
// and checks that rkt stored the image ID we stored.
func rktFetch(ctx context.Context, t rkt.Tools, dir, pubKey, caCert, url, wantID string) (time.Duration, error) {
	s, err := rkt.NewSandbox(dir, t)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.Trust(ctx, "127.0.0.1/bench", pubKey); err != nil {
		return 0, err
	}
	cmd := s.Command(ctx, "fetch", "--pull-policy=new", url)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caCert)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("rkt fetch %s: %w\n%s", url, err, errb.String())
	}
	d := time.Since(start)
	// rkt prints the short form: sha512- and 32 hex digits.
	got := strings.TrimSpace(out.String())
	if len(got) < len("sha512-")+32 || !strings.HasPrefix(wantID, got) {
		return 0, fmt.Errorf("rkt fetch %s printed %q, our fetch stored %s", url, got, wantID)
	}
	return d, nil
}
