package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// fetchSizeMB is the uncompressed payload of the fetched image (half
// random, half base64 text, so it compresses like a mixed rootfs).
const fetchSizeMB = 96

// Fetch times a loopback fetch against `curl | gunzip | sha512sum`.
//
// A generated ~96 MB image is published, served over HTTPS on 127.0.0.1
// and fetched by name into an empty store (discovery, download, signature
// and structure checks, store with fsync), against `curl | gunzip |
// sha512sum` (the shell floor for download, decompression and the image ID
// hash) and plain `curl` on the same file from the same server; medians of
// o.Runs (default 3) rounds after a warm-up round.
func Fetch(ctx context.Context, o Options) (Result, error) {
	base, err := o.dir("fetch")
	if err != nil {
		return Result{}, err
	}
	if err := step.RemoveAll(base); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return Result{}, err
	}
	defer step.RemoveAll(base)
	res, err := fetchLoopback(ctx, base, o.runs(3))
	if err != nil {
		return Result{}, err
	}
	mb := float64(res.Bytes) / 1e6
	step.Summaryf("bench fetch: a %.1f MB ACI over loopback HTTPS: ours %.1f MB/s (download+verify+store), curl %.1f MB/s (download only)",
		mb, mb/res.Ours.Seconds(), mb/res.Peer.Seconds())
	step.Summaryf("bench fetch: sha512 alone (the image ID hash every fetch must compute) runs at %.0f MB/s here", res.SHA512MBps)
	step.Summaryf("bench fetch: ours %.3fs = %.2fx `curl | gunzip | sha512sum` (%.3fs; goal <= 1.3x), %.2fx plain curl (%.3fs)",
		res.Ours.Seconds(), res.Ours.Seconds()/res.Pipe.Seconds(), res.Pipe.Seconds(), res.Ours.Seconds()/res.Peer.Seconds(), res.Peer.Seconds())
	return Result{Ours: res.Ours, Peer: res.Pipe, PeerTool: "curl | gunzip | sha512sum"}, nil
}

// fetchResult holds the medians.
type fetchResult struct {
	// Ours is rktbuild's fetch; Peer is plain curl (download only);
	// Pipe is `curl | gunzip | sha512sum`, the shell floor for download,
	// decompression and the image ID hash, on the same file.
	Ours, Peer, Pipe time.Duration
	// Bytes is the size of the ACI file fetched.
	Bytes int64
	URL   string
	// SHA512MBps is the speed of sha512 alone on this machine: the image
	// ID (sha512 of the whole uncompressed tar) bounds fetch throughput.
	SHA512MBps float64
}

// fetchLoopback publishes, serves and fetches the image in dir, runs+1
// rounds (the first warms caches).
func fetchLoopback(ctx context.Context, dir string, runs int) (fetchResult, error) {
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
	rootfs := filepath.Join(dir, "rootfs")
	if err := payload(rootfs, fetchSizeMB); err != nil {
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

	var ours, peer, pipe []time.Duration
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
		if err := step.RemoveAll(sdir); err != nil {
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
		step.Logf(ctx, "round %d: ours %s, curl %s, curl|gunzip|sha512sum %s", i, d, cd, pd)
		if i > 0 {
			ours, peer, pipe = append(ours, d), append(peer, cd), append(pipe, pd)
		}
	}
	res.Ours, res.Peer, res.Pipe = medianOf(ours), medianOf(peer), medianOf(pipe)
	buf := make([]byte, 64<<20)
	start := time.Now()
	sha512.Sum512(buf)
	res.SHA512MBps = float64(len(buf)) / 1e6 / time.Since(start).Seconds()
	return res, nil
}

// payload writes sizeMB of data into rootfs: half incompressible, half text.
func payload(rootfs string, sizeMB int) error {
	dir := filepath.Join(rootfs, "usr", "lib", "payload")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < sizeMB; i++ {
		if _, err := rand.Read(chunk); err != nil {
			return err
		}
		data := chunk
		if i%2 == 1 {
			data = []byte(base64.StdEncoding.EncodeToString(chunk[:3<<18]))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob-%03d", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
