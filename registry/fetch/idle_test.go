package fetch_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
)

// serveStalling serves root over HTTPS but sends only half of every .aci
// and then keeps the connection open without sending more, until the
// client goes away or the test ends.
func serveStalling(t *testing.T, e *env, ln net.Listener, root string) {
	inner := serve.Handler(root, nil)
	done := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, ".aci") {
			inner.ServeHTTP(w, r)
			return
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	srv := &http.Server{Handler: h}
	go srv.ServeTLS(ln, e.certs.ServerCert, e.certs.ServerKey)
	t.Cleanup(func() { close(done); srv.Close() })
}

// A server that sends half the body and stalls no longer hangs fetch: the
// idle timeout ends it with an error that says so and how to change it,
// and nothing is left in the store.
func TestFetchIdleTimeout(t *testing.T) {
	e := setup(t)
	work := t.TempDir()
	ln, port := listen(t)
	h := &hostile{root: filepath.Join(work, "www"), base: fmt.Sprintf("https://127.0.0.1:%d", port), e: e, t: t}
	os.MkdirAll(h.root, 0o755)
	h.index(prefix, publish.DefaultTemplate)
	h.place(prefix+"/hello", "1.0.0", e.images[prefix+"/hello:1.0.0"], nil)
	serveStalling(t, e, ln, h.root)
	trust := sign.TrustStore{Dir: filepath.Join(work, "trust")}
	if _, err := trust.Trust("127.0.0.1", fileBytes(t, e.good+".pub.asc")); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(work, "store"))
	if err != nil {
		t.Fatal(err)
	}
	n := e.net(port)
	n.IdleTimeout = 500 * time.Millisecond
	start := time.Now()
	_, err = fetch.Fetch(context.Background(), prefix+"/hello:1.0.0", fetch.Options{Net: n, Store: st, Trust: trust})
	took := time.Since(start)
	if err == nil {
		t.Fatal("fetch from a stalling server succeeded")
	}
	if !regexp.MustCompile(`no data for 500ms after [1-9][0-9]* bytes: the server stalled \(FETCH_IDLE_TIMEOUT sets the limit\)`).MatchString(err.Error()) {
		t.Errorf("error %q does not say the server stalled after some bytes and how to change the limit", err)
	}
	if took > 20*time.Second {
		t.Errorf("fetch took %s with a 500ms idle timeout", took)
	}
	assertEmpty(t, st)
}
