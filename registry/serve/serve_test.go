package serve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/serve"
)

func write(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start serves a web root over HTTPS on 127.0.0.1 with generated certs.
func start(t *testing.T) (base string, client *http.Client, log *bytes.Buffer, root string, stop func() error) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "www")
	write(t, root, "index.html", `<meta name="ac-discovery" content="example.com https://example.com/{name}.{ext}">`)
	write(t, root, "example.com/app-1.0.0-linux-amd64.aci", "0123456789abcdef")
	write(t, root, "example.com/app-1.0.0-linux-amd64.aci.asc", "-----BEGIN PGP SIGNATURE-----")
	write(t, root, "pubkeys.gpg", "-----BEGIN PGP PUBLIC KEY BLOCK-----")
	write(t, root, ".hidden", "secret")
	write(t, root, ".git/config", "secret")
	write(t, root, "keys/signing.key.asc", "-----BEGIN PGP PRIVATE KEY BLOCK-----")
	write(t, root, "server.pem", "-----BEGIN PRIVATE KEY-----")
	write(t, root, "sub/index.html", "sub index")
	write(t, root, "nolisting/file.txt", "x")
	write(t, dir, "outside.txt", "outside the root")
	if err := os.Symlink("../outside.txt", filepath.Join(root, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	cr, err := certs.Ensure(filepath.Join(dir, "certs"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certs.Pool(cr.CACert)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log = &bytes.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, ln, serve.Options{Root: root, CertFile: cr.ServerCert, KeyFile: cr.ServerKey, Log: log})
	}()
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return fmt.Errorf("server did not stop")
		}
	}
	t.Cleanup(func() { stop() })
	return "https://" + ln.Addr().String(), client, log, root, stop
}

func TestServe(t *testing.T) {
	base, client, log, _, stop := start(t)
	cases := []struct {
		name, path string
		header     map[string]string
		status     int
		ctype      string
		body       string
	}{
		{"discovery on any path", "/example.com/app?ac-discovery=1", nil, 200, "text/html; charset=utf-8", `<meta name="ac-discovery"`},
		{"root index", "/", nil, 200, "text/html; charset=utf-8", "ac-discovery"},
		{"aci", "/example.com/app-1.0.0-linux-amd64.aci", nil, 200, "application/octet-stream", "0123456789abcdef"},
		{"signature", "/example.com/app-1.0.0-linux-amd64.aci.asc", nil, 200, "text/plain; charset=utf-8", "BEGIN PGP SIGNATURE"},
		{"public keys", "/pubkeys.gpg", nil, 200, "application/pgp-keys", "PUBLIC KEY"},
		{"range", "/example.com/app-1.0.0-linux-amd64.aci", map[string]string{"Range": "bytes=4-7"}, 206, "application/octet-stream", "4567"},
		{"directory index", "/sub/", nil, 200, "text/html; charset=utf-8", "sub index"},
		{"no listing", "/nolisting/", nil, 404, "", ""},
		{"dotfile", "/.hidden", nil, 404, "", ""},
		{"dot directory", "/.git/config", nil, 404, "", ""},
		{"private key", "/keys/signing.key.asc", nil, 404, "", ""},
		{"pem", "/server.pem", nil, 404, "", ""},
		{"encoded traversal", "/%2e%2e/outside.txt", nil, 404, "", ""},
		{"symlink out of the root", "/escape.txt", nil, 404, "", ""},
		{"missing", "/nope.aci", nil, 404, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body %q does not contain %q", body, tc.body)
			}
			if tc.status == 404 && strings.Contains(string(body), "secret") || strings.Contains(string(body), "PRIVATE") {
				t.Errorf("leaked %q", body)
			}
		})
	}
	// A raw request line with ".." must not escape either.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /../outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	conn.Close()
	if strings.Contains(string(raw), "outside the root") || !strings.Contains(string(raw), " 404 ") && !strings.Contains(string(raw), " 400 ") {
		t.Errorf("raw traversal answered:\n%s", raw)
	}
	if resp, err := client.Post(base+"/x", "text/plain", strings.NewReader("x")); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", resp, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `GET "/pubkeys.gpg" 200`) || !strings.Contains(log.String(), " 206 4 ") {
		t.Errorf("access log lacks requests:\n%s", log)
	}
}

// TestGracefulShutdown cancels the server while a slow download is in
// flight: the download completes, new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	base, client, _, root, stop := start(t)
	big := bytes.Repeat([]byte("x"), 8<<20)
	write(t, root, "big.aci", string(big))
	resp, err := client.Get(base + "/big.aci")
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Wait until shutdown has begun (the listener refuses connections),
	// a condition rather than a timer.
	addr := strings.TrimPrefix(base, "https://")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 10 s after the cancel")
		}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(len(big)) {
		t.Fatalf("in-flight download: %d bytes, %v", n, err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(base + "/pubkeys.gpg"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestHTTPSNeedsCerts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = serve.Serve(context.Background(), ln, serve.Options{Root: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "mage certs") {
		t.Errorf("serving HTTPS without certificates: %v", err)
	}
}
