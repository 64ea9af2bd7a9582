// Package serve is the registry's web server: it serves a published web root
// over HTTPS (plain HTTP only when asked), answers appc discovery requests
// (`?ac-discovery=1` on any path) with the root's index.html, and serves only
// regular files under the root — no path traversal, no dotfiles, no key
// material, no directory listings. Range requests work (http.ServeContent),
// every request is logged, and the server shuts down gracefully when its
// context is cancelled.
//
// The root is resolved again for every request (its `current` symlink when
// present, see resolveRoot), so a publish that swaps the web root's
// `current` symlink is picked up atomically: a request sees either
// the old tree or the new one, never a half-written one.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// Options configures a server.
type Options struct {
	// Root is the web root (a directory or a symlink to one). When it
	// holds a `current` directory (or symlink to one), that is served,
	// resolved per request.
	Root string
	// CertFile and KeyFile are the TLS server certificate and key (PEM).
	CertFile, KeyFile string
	// Plain serves plain HTTP instead of HTTPS. It must be asked for
	// explicitly; CertFile/KeyFile are then ignored.
	Plain bool
	// Log receives one access-log line per request (nil: no log).
	Log io.Writer
	// ShutdownTimeout bounds the graceful shutdown (default 5s).
	ShutdownTimeout time.Duration
	// Ready, when set, is called once the address is bound and the root
	// and TLS material were checked, just before serving: the place to
	// tell the user the server is up (never before a bind error).
	Ready func(addr net.Addr)
}

// Handler returns the HTTP handler serving root.
func Handler(root string, log io.Writer) http.Handler {
	h := &handler{root: root}
	if log == nil {
		return h
	}
	return &logger{next: h, w: log}
}

// ListenAndServe listens on addr and serves until ctx is cancelled.
func ListenAndServe(ctx context.Context, addr string, opts Options) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: listening on %s: %w (set SERVE_ADDR to a free address)", addr, err)
	}
	return Serve(ctx, ln, opts)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting connections and waits for requests in flight.
func Serve(ctx context.Context, ln net.Listener, opts Options) error {
	if fi, err := os.Stat(opts.Root); err != nil || !fi.IsDir() {
		ln.Close()
		return fmt.Errorf("serve: web root %s is not a directory: run `mage publish` first or set PUBLISH_DIR", opts.Root)
	}
	srv := &http.Server{
		Handler:           Handler(opts.Root, opts.Log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if !opts.Plain {
		if opts.CertFile == "" || opts.KeyFile == "" {
			ln.Close()
			return errors.New("serve: HTTPS needs a certificate and key: run `mage certs` (or ask for plain HTTP explicitly)")
		}
		pair, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: loading %s and %s: %w (run `mage certs`)", opts.CertFile, opts.KeyFile, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	timeout := opts.ShutdownTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

type handler struct{ root string }

// ContentType returns the Content-Type served for a file name.
func ContentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".aci"):
		return "application/octet-stream"
	case strings.HasSuffix(name, ".asc"):
		return "text/plain; charset=utf-8"
	case strings.HasSuffix(name, ".gpg"):
		return "application/pgp-keys"
	case strings.HasSuffix(name, ".html"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(name, ".txt"), strings.HasSuffix(name, ".json"):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// cleanPath turns a request path into a root-relative name, or "" with
// ok=false when it must not be served.
func cleanPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "\x00") || strings.Contains(p, "\\") {
		return "", false
	}
	for _, el := range strings.Split(p[1:], "/") {
		if strings.HasPrefix(el, ".") {
			return "", false // dotfiles, "." and ".."
		}
	}
	rel := strings.TrimPrefix(path.Clean(p), "/")
	if rel == "" {
		rel = "."
	}
	return rel, true
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if IsOCIPath(r.URL.Path) {
		h.serveOCI(w, r) // the OCI distribution API (oci.go)
		return
	}
	rel, ok := cleanPath(r.URL.Path)
	if r.URL.Query().Get("ac-discovery") == "1" {
		rel, ok = "index.html", true
	}
	if !ok || keyMaterial(path.Base(rel)) {
		http.NotFound(w, r)
		return
	}
	root, err := os.OpenRoot(resolveRoot(h.root))
	if err != nil {
		http.Error(w, "web root unavailable", http.StatusServiceUnavailable)
		return
	}
	defer root.Close()
	f, fi, err := openRegular(root, rel)
	if err != nil {
		// Missing, not a regular file, or refused by os.Root (a symlink
		// out of the root): all look the same from outside.
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if holdsPrivateKey(f) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ContentType(fi.Name()))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

var errNotRegular = errors.New("not a regular file")

// openRegular opens rel under root; a directory is served by its index.html.
// os.Root refuses names and symlinks that leave the root.
func openRegular(root *os.Root, rel string) (*os.File, fs.FileInfo, error) {
	f, err := root.Open(rel)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if fi.IsDir() {
		f.Close()
		return openRegular(root, path.Join(rel, "index.html"))
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular
	}
	return f, fi, nil
}

type logger struct {
	next http.Handler
	mu   sync.Mutex
	w    io.Writer
}

type recorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.n += int64(n)
	return n, err
}

func (l *logger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	l.next.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s %s %q %d %d %s\n", start.UTC().Format(time.RFC3339), r.RemoteAddr, r.Method,
		r.URL.RequestURI(), rec.status, rec.n, time.Since(start).Round(time.Microsecond))
}
