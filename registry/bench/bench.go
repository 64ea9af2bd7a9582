// Package bench measures fetch throughput on loopback: a generated, signed
// image is published and served over HTTPS on 127.0.0.1, then fetched by
// name into a fresh store (discovery + download + signature and structure
// verification + store, fsync included) and, for comparison, downloaded with
// plain curl from the same server.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"net"
	"os"
	"path/filepath"
	"sort"
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

// Options configures Fetch.
type Options struct {
	// Dir is scratch space (removed afterwards by the caller).
	Dir string
	// SizeMB is the uncompressed payload of the image (half random, half
	// base64 text, so it compresses like a mixed rootfs).
	SizeMB int
	// Runs is the number of timed runs of each side (median is reported).
	Runs int
}

// Result holds the medians.
type Result struct {
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

// Fetch runs the benchmark.
func Fetch(ctx context.Context, o Options) (Result, error) {
	var res Result
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.SizeMB <= 0 {
		o.SizeMB = 96
	}
	const name = "127.0.0.1/bench/payload"
	key := filepath.Join(o.Dir, "key")
	fpr, err := sign.GenKey(key, sign.Identity{Name: "rktbuild bench", Comment: "bench key", Email: "bench@localhost"}, 2048, nil)
	if err != nil {
		return res, err
	}
	cr, err := certs.Ensure(filepath.Join(o.Dir, "certs"), []string{"127.0.0.1"})
	if err != nil {
		return res, err
	}
	rootfs := filepath.Join(o.Dir, "rootfs")
	if err := payload(rootfs, o.SizeMB); err != nil {
		return res, err
	}
	m, err := aci.NewManifest(name, map[string]string{"version": "1.0.0"})
	if err != nil {
		return res, err
	}
	file := filepath.Join(o.Dir, "images", "payload.aci")
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
	pub, err := publish.Publish(ctx, publish.Options{Dir: filepath.Join(o.Dir, "www"), Images: []string{file},
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
	trust := sign.TrustStore{Dir: filepath.Join(o.Dir, "trust")}
	if _, err := fetch.Trust(ctx, fetch.TrustOptions{Net: n, Store: trust, Prefix: "127.0.0.1/bench", Fingerprint: fpr}); err != nil {
		return res, err
	}
	for _, e := range pub.Entries {
		if !e.IsLatest {
			res.URL = base + "/" + e.Path
		}
	}

	var ours, peer, pipe []time.Duration
	for i := 0; i < o.Runs+1; i++ { // the first round of each warms caches
		sdir := filepath.Join(o.Dir, fmt.Sprintf("store-%d", i))
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

		out := filepath.Join(o.Dir, "curl.aci")
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
	res.Ours, res.Peer, res.Pipe = median(ours), median(peer), median(pipe)
	buf := make([]byte, 64<<20)
	start := time.Now()
	sha512.Sum512(buf)
	res.SHA512MBps = float64(len(buf)) / 1e6 / time.Since(start).Seconds()
	return res, nil
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
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
