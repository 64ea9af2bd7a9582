package serve_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/registry/serve"
)

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Key material is refused by file kind and content, not by substrings of
// the name: an image called private-tools is served.
func TestServeKeyMaterialByKind(t *testing.T) {
	base, client, _, root, _ := start(t)
	write(t, root, "example.com/private-tools-1.0.0-linux-amd64.aci", "tools image")
	write(t, root, "example.com/secring-viewer-1.0.0-linux-amd64.aci", "viewer image")
	write(t, root, "innocent.txt", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n")
	write(t, root, "certs/server.crt.txt", "-----BEGIN EC PRIVATE KEY-----\n")
	write(t, root, "secring.gpg", "\x95\x01")
	write(t, root, "tls.KEY", "x")
	tests := []struct {
		path   string
		status int
	}{
		{"/example.com/private-tools-1.0.0-linux-amd64.aci", 200},
		{"/example.com/secring-viewer-1.0.0-linux-amd64.aci", 200},
		{"/innocent.txt", 404},
		{"/certs/server.crt.txt", 404},
		{"/secring.gpg", 404},
		{"/tls.KEY", 404},
	}
	for _, tt := range tests {
		if st, body := get(t, client, base+tt.path); st != tt.status || st == 404 && strings.Contains(body, "PRIVATE") {
			t.Errorf("GET %s = %d %q, want %d", tt.path, st, body, tt.status)
		}
	}
}

// A server started before the first publish serves the published tree as
// soon as the `current` symlink appears, and follows each swap.
func TestServeFollowsCurrentPerRequest(t *testing.T) {
	base, client, _, root, _ := start(t)
	if st, body := get(t, client, base+"/pubkeys.gpg"); st != 200 || !strings.Contains(body, "PUBLIC") {
		t.Fatalf("before publish: %d %q", st, body)
	}
	for i, rel := range []string{"releases/1", "releases/2"} {
		tree := filepath.Join(root, rel)
		write(t, tree, "pubkeys.gpg", "published "+rel)
		tmp := filepath.Join(root, ".current.tmp")
		if err := os.Symlink(rel, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(root, "current")); err != nil {
			t.Fatal(err)
		}
		if st, body := get(t, client, base+"/pubkeys.gpg"); st != 200 || body != "published "+rel {
			t.Errorf("after publish %d: %d %q, want the tree %s", i+1, st, body, rel)
		}
	}
}

// A bind error is reported before anything says the server is up.
func TestServeBindsBeforeReady(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ready := false
	err = serve.ListenAndServe(context.Background(), busy.Addr().String(), serve.Options{
		Root: t.TempDir(), Plain: true, Ready: func(net.Addr) { ready = true },
	})
	if err == nil || !strings.Contains(err.Error(), "SERVE_ADDR") {
		t.Errorf("binding a busy address: %v", err)
	}
	if ready {
		t.Error("Ready was called although the bind failed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var got net.Addr
	go func() {
		done <- serve.ListenAndServe(ctx, "127.0.0.1:0", serve.Options{Root: t.TempDir(), Plain: true, Ready: func(a net.Addr) {
			got = a
			cancel()
		}})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got == nil || strings.HasSuffix(got.String(), ":0") {
		t.Errorf("Ready got %v, want the bound address", got)
	}
}
