package fetch_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
)

// BenchmarkFetch fetches a signed 64 MB image (half random, half base64
// text) by name over loopback HTTPS into an empty store: discovery,
// download, signature, structure check, store with fsync. Our side alone;
// `mage bench fetch` compares with rkt fetch and curl | gunzip | sha512sum:
// go test -run '^$' -bench Fetch ./registry/fetch
func BenchmarkFetch(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	dir := b.TempDir()
	name := prefix + "/bench"
	testutil.WritePayload(b, filepath.Join(dir, "rootfs", "usr", "lib"), 64)
	m, err := aci.NewManifest(name, map[string]string{"version": "1.0.0"})
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "bench.aci")
	if _, err := aci.PackRootfs(ctx, m, filepath.Join(dir, "rootfs"), file, aci.PackOptions{ForceRoot: true}); err != nil {
		b.Fatal(err)
	}
	if err := sign.SignFile(file, e.good, nil); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pub, err := publish.Publish(ctx, publish.Options{Dir: filepath.Join(dir, "www"), Images: []string{file},
		PubKeys: []string{e.good + sign.PublicKeySuffix}, BaseURL: fmt.Sprintf("https://127.0.0.1:%d", port)})
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(sctx, ln, serve.Options{Root: pub.Root, CertFile: e.certs.ServerCert, KeyFile: e.certs.ServerKey})
	}()
	defer func() { stop(); <-done }()
	n := e.net(port)
	trust := sign.TrustStore{Dir: filepath.Join(dir, "trust")}
	if _, err := fetch.Trust(ctx, fetch.TrustOptions{Net: n, Store: trust, Prefix: prefix, Fingerprint: e.goodFpr}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sdir := filepath.Join(dir, fmt.Sprintf("store-%d", i))
		st, err := store.Open(sdir)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		r, err := fetch.Fetch(ctx, name+":1.0.0", fetch.Options{Net: n, Store: st, Trust: trust})
		if err != nil {
			b.Fatal(err)
		}
		if !r.Downloaded {
			b.Fatal("the fetch into an empty store downloaded nothing")
		}
		b.StopTimer()
		os.RemoveAll(sdir)
		b.StartTimer()
	}
}
