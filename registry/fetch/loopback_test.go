package fetch_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/registry/store"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// env is a loopback registry: keys, certificates, images and a store.
type env struct {
	dir       string
	good, bad string // key bases (BASE.key.asc, BASE.pub.asc)
	goodFpr   string
	certs     certs.Paths
	caPEM     []byte
	images    map[string]string // "name:version" -> signed ACI file
	ids       map[string]string // "name:version" -> image ID
}

var (
	setupOnce sync.Once
	shared    *env
	setupErr  error
)

const prefix = "127.0.0.1/rktbuild"

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// setup makes the keys, certificates and images once for all tests.
func setup(t testing.TB) *env {
	t.Helper()
	setupOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rktbuild-registry-test-")
		if err != nil {
			setupErr = err
			return
		}
		e := &env{dir: dir, images: map[string]string{}, ids: map[string]string{}}
		setupErr = e.init()
		shared = e
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return shared
}

func (e *env) init() error {
	id := sign.Identity{Name: "rktbuild test", Comment: "registry test key", Email: "test@localhost"}
	e.good = filepath.Join(e.dir, "keys", "good")
	e.bad = filepath.Join(e.dir, "keys", "bad")
	var err error
	if e.goodFpr, err = sign.GenKey(e.good, id, 2048, nil); err != nil {
		return err
	}
	id.Comment = "untrusted key"
	if _, err = sign.GenKey(e.bad, id, 2048, nil); err != nil {
		return err
	}
	cr, err := certs.Ensure(filepath.Join(e.dir, "certs"), []string{"127.0.0.1"})
	if err != nil {
		return err
	}
	e.certs = cr.Paths
	if e.caPEM, err = os.ReadFile(cr.CACert); err != nil {
		return err
	}
	for _, im := range []struct{ name, version string }{
		{prefix + "/hello", "1.0.0"},
		{prefix + "/hello", "2.0.0"},
		{prefix + "/world", "0.1.0"},
	} {
		file, id, err := e.makeImage(im.name, im.version, e.good)
		if err != nil {
			return err
		}
		e.images[im.name+":"+im.version] = file
		e.ids[im.name+":"+im.version] = id
	}
	return nil
}

// makeImage packs a small generated rootfs and signs it with key.
func (e *env) makeImage(name, version, key string) (string, string, error) {
	base := strings.ReplaceAll(name, "/", "_") + "-" + version + "-" + filepath.Base(key)
	rootfs := filepath.Join(e.dir, "rootfs", base)
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		return "", "", err
	}
	payload := bytes.Repeat([]byte(name+" "+version+"\n"), 2000)
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "hello.txt"), payload, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Symlink("hello.txt", filepath.Join(rootfs, "etc", "link")); err != nil {
		return "", "", err
	}
	m, err := aci.NewManifest(name, map[string]string{"version": version})
	if err != nil {
		return "", "", err
	}
	out := filepath.Join(e.dir, "images", base+".aci")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", "", err
	}
	id, err := aci.PackRootfs(context.Background(), m, rootfs, out, aci.PackOptions{ForceRoot: true})
	if err != nil {
		return "", "", err
	}
	if err := sign.SignFile(out, key, nil); err != nil {
		return "", "", err
	}
	return out, id, nil
}

// server serves root over HTTPS on 127.0.0.1 until the test ends.
type server struct {
	port int
	log  *testutil.SyncBuffer
}

func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

func (e *env) serve(t *testing.T, ln net.Listener, root string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{port: ln.Addr().(*net.TCPAddr).Port, log: &testutil.SyncBuffer{}}
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, ln, serve.Options{Root: root, CertFile: e.certs.ServerCert, KeyFile: e.certs.ServerKey, Log: s.log})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return s
}

func (e *env) net(port int) fetch.Net {
	return fetch.Net{ExtraCAs: e.caPEM, Port: uint(port)}
}

func fileBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoopbackEndToEnd(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	work := t.TempDir()
	ln, port := listen(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)

	pubOpts := publish.Options{
		Dir:     filepath.Join(work, "www"),
		Images:  []string{e.images[prefix+"/hello:1.0.0"], e.images[prefix+"/hello:2.0.0"], e.images[prefix+"/world:0.1.0"]},
		PubKeys: []string{e.good + ".pub.asc"},
		BaseURL: base,
	}
	pub, err := publish.Publish(ctx, pubOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Changed {
		t.Error("first publish reported no change")
	}
	again, err := publish.Publish(ctx, pubOpts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed || again.Tree != pub.Tree {
		t.Errorf("re-publishing the same images changed the tree: %+v", again)
	}
	srv := e.serve(t, ln, publish.WebRoot(pubOpts.Dir))

	trustDir := filepath.Join(work, "trust")
	tn := e.net(port)
	// No terminal and no fingerprint: nothing is trusted.
	if _, err := fetch.Trust(ctx, fetch.TrustOptions{Net: tn, Store: sign.TrustStore{Dir: trustDir}, Prefix: prefix}); err == nil || !strings.Contains(err.Error(), e.goodFpr) {
		t.Fatalf("trust without confirmation must fail and show the fingerprint: %v", err)
	}
	// A declining user trusts nothing either.
	if _, err := fetch.Trust(ctx, fetch.TrustOptions{Net: tn, Store: sign.TrustStore{Dir: trustDir}, Prefix: prefix,
		Confirm: func(fpr, uid, src string) (bool, error) { return false, nil }}); err == nil {
		t.Fatal("declined trust succeeded")
	}
	if _, err := fetch.Trust(ctx, fetch.TrustOptions{Net: tn, Store: sign.TrustStore{Dir: trustDir}, Prefix: prefix,
		Fingerprint: strings.Repeat("ab", 20)}); err == nil || !strings.Contains(err.Error(), "no key with fingerprint") {
		t.Fatalf("trust with a wrong fingerprint: %v", err)
	}
	if _, err := os.Stat(filepath.Join(trustDir, "prefix.d")); err == nil {
		entries, _ := filepath.Glob(filepath.Join(trustDir, "prefix.d", "*", "*", "*"))
		if len(entries) > 0 {
			t.Fatalf("refused trust left keys: %v", entries)
		}
	}
	keys, err := fetch.Trust(ctx, fetch.TrustOptions{Net: tn, Store: sign.TrustStore{Dir: trustDir}, Prefix: prefix,
		Fingerprint: strings.ToUpper(e.goodFpr)})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Fingerprint != e.goodFpr {
		t.Fatalf("trusted %+v, want %s", keys, e.goodFpr)
	}
	if _, err := os.Stat(filepath.Join(trustDir, "prefix.d", "127.0.0.1", "rktbuild", e.goodFpr)); err != nil {
		t.Fatalf("key not in rkt layout: %v", err)
	}

	st, err := store.Open(filepath.Join(work, "store"))
	if err != nil {
		t.Fatal(err)
	}
	fo := fetch.Options{Net: tn, Store: st, Trust: sign.TrustStore{Dir: trustDir}}
	for _, tc := range []struct {
		ref, key string
	}{
		{prefix + "/hello:1.0.0", prefix + "/hello:1.0.0"},
		{prefix + "/world", prefix + "/world:0.1.0"},                // latest
		{prefix + "/hello", prefix + "/hello:2.0.0"},                // latest is the newest version
		{prefix + "/hello:1.0.0,os=linux", prefix + "/hello:1.0.0"}, // stored: no download
		{prefix + "/world", prefix + "/world:0.1.0"},                // latest already stored: signature only
	} {
		before := strings.Count(srv.log.String(), ".aci\"")
		res, err := fetch.Fetch(ctx, tc.ref, fo)
		if err != nil {
			t.Fatalf("fetch %s: %v", tc.ref, err)
		}
		if res.Image.ID != e.ids[tc.key] {
			t.Errorf("fetch %s: ID %s, want %s", tc.ref, res.Image.ID, e.ids[tc.key])
		}
		name, version, _ := strings.Cut(tc.key, ":")
		if res.Image.Name != name || res.Image.Labels["version"] != version {
			t.Errorf("fetch %s: got %s %v", tc.ref, res.Image.Name, res.Image.Labels)
		}
		after := strings.Count(srv.log.String(), ".aci\"")
		if res.Downloaded != (after > before) {
			t.Errorf("fetch %s: downloaded=%v but the server served %d ACIs", tc.ref, res.Downloaded, after-before)
		}
		if res.Image.Signer == "" && res.Downloaded {
			t.Errorf("fetch %s: no signer recorded", tc.ref)
		}
	}
	if n := strings.Count(srv.log.String(), ".aci\""); n != 3 {
		t.Errorf("server served %d ACI downloads, want 3 (the stored image must not be downloaded again):\n%s", n, srv.log.String())
	}

	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("store lists %d images, want 3: %+v", len(list), list)
	}
	for _, im := range list {
		if !strings.HasPrefix(st.BlobPath(im.ID), filepath.Join(st.Dir, "cas", "blob", "sha512", im.ID[7:9])) {
			t.Errorf("blob path %s is not content-addressed", st.BlobPath(im.ID))
		}
	}
	for key, file := range e.images {
		out := filepath.Join(work, "export", strings.ReplaceAll(key, "/", "_")+".aci")
		im, err := st.Export(key, out)
		if err != nil {
			t.Fatalf("export %s: %v", key, err)
		}
		if im.ID != e.ids[key] {
			t.Errorf("export %s resolved %s", key, im.ID)
		}
		if !bytes.Equal(fileBytes(t, out), fileBytes(t, file)) {
			t.Errorf("export %s differs from the published ACI", key)
		}
		if !bytes.Equal(fileBytes(t, out+".asc"), fileBytes(t, file+".asc")) {
			t.Errorf("export %s: signature differs", key)
		}
		if id, err := aci.ImageID(out); err != nil || id != e.ids[key] {
			t.Errorf("export %s: image ID %s %v", key, id, err)
		}
	}
	_, mf, err := st.Manifest(prefix + "/world")
	if err != nil || !bytes.Contains(mf, []byte(`"`+prefix+`/world"`)) {
		t.Errorf("manifest: %v\n%s", err, mf)
	}
	removed, err := st.Rm(prefix + "/hello:1.0.0")
	if err != nil || len(removed) != 1 {
		t.Fatalf("rm: %v %v", removed, err)
	}
	if _, err := os.Stat(st.BlobPath(e.ids[prefix+"/hello:1.0.0"])); !os.IsNotExist(err) {
		t.Errorf("rm left the blob: %v", err)
	}
	stray := filepath.Join(st.Dir, "cas", "blob", "sha512", "ab", "sha512-"+strings.Repeat("ab", 64))
	os.MkdirAll(filepath.Dir(stray), 0o755)
	os.WriteFile(stray, []byte("stray"), 0o644)
	gone, err := st.Gc(0)
	if err != nil || len(gone) != 1 || gone[0] != stray {
		t.Errorf("gc removed %v (%v), want just %s", gone, err, stray)
	}
	if list, _ := st.List(); len(list) != 2 {
		t.Errorf("after rm the store lists %d images, want 2", len(list))
	}

	// An unsigned image is refused and the served tree stays as it was.
	unsigned := filepath.Join(work, "unsigned.aci")
	os.WriteFile(unsigned, fileBytes(t, e.images[prefix+"/world:0.1.0"]), 0o644)
	bad := pubOpts
	bad.Images = append([]string{unsigned}, pubOpts.Images...)
	if _, err := publish.Publish(ctx, bad); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("publishing an unsigned image: %v", err)
	}
	if cur, _ := os.Readlink(filepath.Join(pubOpts.Dir, "current")); filepath.Base(cur) != filepath.Base(pub.Tree) {
		t.Errorf("a refused publish changed current to %s", cur)
	}
}

// hostile builds a web root by hand for a hostile-server case.
type hostile struct {
	root string
	base string
	e    *env
	t    *testing.T
}

// place puts the ACI src (and src.asc) at the path hello 1.0.0 renders to.
func (h *hostile) place(name, version, src string, sig []byte) {
	rel, err := publish.Render(publish.DefaultTemplate, name, map[string]string{"version": version, "os": "linux", "arch": "amd64"}, "aci")
	if err != nil {
		h.t.Fatal(err)
	}
	dst := filepath.Join(h.root, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, fileBytes(h.t, src), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if sig == nil {
		sig = fileBytes(h.t, src+".asc")
	}
	if err := os.WriteFile(dst+".asc", sig, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hostile) index(metaPrefix, tpl string) {
	html, err := publish.IndexHTML(h.base, tpl, []string{metaPrefix}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "index.html"), html, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// escapingACI writes a signed ACI whose tar has a "rootfs/../../escape" entry.
func escapingACI(t *testing.T, e *env, dir string) string {
	m, err := aci.NewManifest(prefix+"/hello", map[string]string{"version": "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := aci.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(mb)), Typeflag: tar.TypeReg})
	tw.Write(mb)
	tw.WriteHeader(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir})
	evil := []byte("owned\n")
	tw.WriteHeader(&tar.Header{Name: "rootfs/../../escape", Mode: 0o644, Size: int64(len(evil)), Typeflag: tar.TypeReg})
	tw.Write(evil)
	tw.Close()
	zw.Close()
	out := filepath.Join(dir, "escape.aci")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sign.SignFile(out, e.good, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHostile(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	hello1 := e.images[prefix+"/hello:1.0.0"]
	hello2 := e.images[prefix+"/hello:2.0.0"]
	world := e.images[prefix+"/world:0.1.0"]

	cases := []struct {
		name  string
		ref   string
		setup func(h *hostile)
		// truncate makes the server cut every .aci response in half.
		truncate bool
		want     string
		is       error
	}{
		{
			name: "tampered ACI",
			ref:  prefix + "/hello:1.0.0",
			setup: func(h *hostile) {
				b := fileBytes(t, hello1)
				tampered := filepath.Join(h.t.TempDir(), "tampered.aci")
				b[len(b)/2] ^= 0xff
				os.WriteFile(tampered, b, 0o644)
				h.place(prefix+"/hello", "1.0.0", tampered, fileBytes(t, hello1+".asc"))
			},
			is: sign.ErrBadSignature,
		},
		{
			name: "signature by an untrusted key",
			ref:  prefix + "/hello:1.0.0",
			setup: func(h *hostile) {
				file, _, err := e.makeImage(prefix+"/hello", "1.0.0", e.bad)
				if err != nil {
					t.Fatal(err)
				}
				h.place(prefix+"/hello", "1.0.0", file, nil)
			},
			is: sign.ErrUnknownKey,
		},
		{
			name:  "manifest name differs from the request",
			ref:   prefix + "/hello:1.0.0",
			setup: func(h *hostile) { h.place(prefix+"/hello", "1.0.0", world, nil) },
			want:  "is named " + prefix + "/world, not " + prefix + "/hello",
		},
		{
			name:  "manifest labels differ from the request",
			ref:   prefix + "/hello:1.0.0",
			setup: func(h *hostile) { h.place(prefix+"/hello", "1.0.0", hello2, nil) },
			want:  "version=2.0.0, requested 1.0.0",
		},
		{
			name: "discovery template for another prefix",
			ref:  prefix + "/hello:1.0.0",
			setup: func(h *hostile) {
				h.index("127.0.0.1/elsewhere", publish.DefaultTemplate)
				h.place(prefix+"/hello", "1.0.0", hello1, nil)
			},
			want: "discovery found no image URL",
		},
		{
			name: "discovery template pointing at another prefix's image",
			ref:  prefix + "/hello:1.0.0",
			setup: func(h *hostile) {
				h.index(prefix, "127.0.0.1/other/thing-0.1.0-linux-amd64.{ext}")
				h.place("127.0.0.1/other/thing", "0.1.0", world, nil)
			},
			want: "is named " + prefix + "/world",
		},
		{
			name:     "truncated download",
			ref:      prefix + "/hello:1.0.0",
			setup:    func(h *hostile) { h.place(prefix+"/hello", "1.0.0", hello1, nil) },
			truncate: true,
			want:     "the download was truncated",
		},
		{
			name: "tar with path-escaping entries",
			ref:  prefix + "/hello:1.0.0",
			setup: func(h *hostile) {
				h.place(prefix+"/hello", "1.0.0", escapingACI(t, e, h.t.TempDir()), nil)
			},
			want: `entry "rootfs/../../escape": path contains ".."`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			ln, port := listen(t)
			h := &hostile{root: filepath.Join(work, "www"), base: fmt.Sprintf("https://127.0.0.1:%d", port), e: e, t: t}
			os.MkdirAll(h.root, 0o755)
			h.index(prefix, publish.DefaultTemplate)
			tc.setup(h)
			if tc.truncate {
				serveTruncating(t, e, ln, h.root)
			} else {
				e.serve(t, ln, h.root)
			}
			trust := sign.TrustStore{Dir: filepath.Join(work, "trust")}
			if _, err := trust.Trust("127.0.0.1", fileBytes(t, e.good+".pub.asc")); err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(filepath.Join(work, "store"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = fetch.Fetch(ctx, tc.ref, fetch.Options{Net: e.net(port), Store: st, Trust: trust})
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			t.Logf("error: %v", err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			assertEmpty(t, st)
		})
	}
}

// assertEmpty checks that nothing was stored: no index entry, no blob, no
// leftover download.
func assertEmpty(t *testing.T, st *store.Store) {
	t.Helper()
	if list, err := st.List(); err != nil || len(list) != 0 {
		t.Errorf("store lists %v (%v)", list, err)
	}
	var files []string
	filepath.Walk(st.Dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(p) != "lock" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("files left in the store: %v", files)
	}
}

// serveTruncating serves root over HTTPS but announces the full length of
// every .aci and sends only half of it before dropping the connection.
func serveTruncating(t *testing.T, e *env, ln net.Listener, root string) {
	inner := serve.Handler(root, nil)
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
		panic(http.ErrAbortHandler)
	})
	srv := &http.Server{Handler: h, ErrorLog: nil}
	go srv.ServeTLS(ln, e.certs.ServerCert, e.certs.ServerKey)
	t.Cleanup(func() { srv.Close() })
	_ = io.Discard
}

// TestPublishRefuses checks that publish refuses images signed by another
// key and files that are not ACIs, leaving the served tree untouched, and
// that `latest` is the semantically newest version.
func TestPublishRefuses(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	work := t.TempDir()
	opts := publish.Options{Dir: filepath.Join(work, "www"), PubKeys: []string{e.good + ".pub.asc"}, BaseURL: "https://127.0.0.1:1",
		Images: []string{e.images[prefix+"/hello:1.0.0"], e.images[prefix+"/hello:2.0.0"]}}
	first, err := publish.Publish(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	latest := filepath.Join(first.Root, "127.0.0.1", "rktbuild", "hello-latest-linux-amd64.aci")
	if !bytes.Equal(fileBytes(t, latest), fileBytes(t, e.images[prefix+"/hello:2.0.0"])) {
		t.Error("the latest copy is not version 2.0.0")
	}
	otherKey, _, err := e.makeImage(prefix+"/other", "1.0.0", e.bad)
	if err != nil {
		t.Fatal(err)
	}
	notACI := filepath.Join(work, "junk.aci")
	os.WriteFile(notACI, []byte("not an image"), 0o644)
	if err := sign.SignFile(notACI, e.good, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{otherKey, "does not verify"},
		{notACI, "refusing " + notACI},
	} {
		bad := opts
		bad.Images = append(append([]string(nil), opts.Images...), tc.file)
		_, err := publish.Publish(ctx, bad)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("publishing %s: %v, want %q", tc.file, err, tc.want)
		}
		if cur, _ := os.Readlink(filepath.Join(opts.Dir, "current")); filepath.Base(cur) != filepath.Base(first.Tree) {
			t.Errorf("a refused publish moved current to %s", cur)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(opts.Dir, "releases", ".tmp-*")); len(left) > 0 {
		t.Errorf("refused publishes left %v", left)
	}
	// A new set swaps current; the previous tree stays for requests in flight.
	opts.Images = opts.Images[:1]
	second, err := publish.Publish(ctx, opts)
	if err != nil || !second.Changed || second.Tree == first.Tree {
		t.Fatalf("second publish: %+v %v", second, err)
	}
	if _, err := os.Stat(first.Tree); err != nil {
		t.Errorf("previous tree removed at once: %v", err)
	}
}

// TestPlainHTTPOnlyWhenAsked serves plain HTTP: fetch refuses it unless
// InsecureHTTP is set.
func TestPlainHTTPOnlyWhenAsked(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	work := t.TempDir()
	ln, port := listen(t)
	pub, err := publish.Publish(ctx, publish.Options{Dir: filepath.Join(work, "www"), PubKeys: []string{e.good + ".pub.asc"},
		BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port), Images: []string{e.images[prefix+"/world:0.1.0"]}})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve.Serve(sctx, ln, serve.Options{Root: pub.Root, Plain: true}) }()
	t.Cleanup(func() { cancel(); <-done })
	trust := sign.TrustStore{Dir: filepath.Join(work, "trust")}
	if _, err := trust.Trust(prefix, fileBytes(t, e.good+".pub.asc")); err != nil {
		t.Fatal(err)
	}
	st, _ := store.Open(filepath.Join(work, "store"))
	n := fetch.Net{Port: uint(port)}
	if _, err := fetch.Fetch(ctx, prefix+"/world", fetch.Options{Net: n, Store: st, Trust: trust}); err == nil {
		t.Fatal("fetched over plain HTTP without asking")
	} else {
		t.Logf("without InsecureHTTP: %v", err)
	}
	assertEmpty(t, st)
	n.InsecureHTTP = true
	res, err := fetch.Fetch(ctx, prefix+"/world", fetch.Options{Net: n, Store: st, Trust: trust})
	if err != nil || res.Image.ID != e.ids[prefix+"/world:0.1.0"] {
		t.Fatalf("fetch with InsecureHTTP: %+v %v", res, err)
	}
}

// TestPublishedTreeVerifiesWithGnuPG checks the published tree with GnuPG,
// the verifier the original guide used: pubkeys.gpg imports, and each
// published signature verifies over its ACI.
func TestPublishedTreeVerifiesWithGnuPG(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		testenv.Skip(t, "needs gpg: apt-get install gnupg")
	}
	e := setup(t)
	ctx := context.Background()
	work := t.TempDir()
	pub, err := publish.Publish(ctx, publish.Options{Dir: filepath.Join(work, "www"), PubKeys: []string{e.good + ".pub.asc"},
		BaseURL: "https://127.0.0.1:1", Images: []string{e.images[prefix+"/hello:1.0.0"], e.images[prefix+"/world:0.1.0"]}})
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(work, "gnupg")
	os.MkdirAll(home, 0o700)
	gpg := func(args ...string) string {
		t.Helper()
		out, err := step.Command(ctx, "gpg", append([]string{"--homedir", home, "--batch", "--no-tty"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gpg("--import", filepath.Join(pub.Root, "pubkeys.gpg"))
	n := 0
	for _, en := range pub.Entries {
		f := filepath.Join(pub.Root, filepath.FromSlash(en.Path))
		if out := gpg("--verify", f+".asc", f); !strings.Contains(out, "Good signature") {
			t.Errorf("gpg --verify %s:\n%s", en.Path, out)
		}
		n++
	}
	if n != 4 {
		t.Errorf("verified %d files, want 2 images + 2 latest copies", n)
	}
}

// TestActoolDiscover runs appc's reference discovery client, `actool
// discover` from appc/spec v0.8.11, against the published tree served over
// HTTPS, trusting the generated CA through SSL_CERT_FILE.
func TestActoolDiscover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds actool; skipped with -short")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("actool discover fills {arch} with GOARCH, which is the appc name only on amd64")
	}
	e := setup(t)
	ctx := context.Background()
	work := t.TempDir()
	actool := filepath.Join(work, "actool")
	if out, err := step.Command(ctx, "go", "build", "-o", actool, "github.com/appc/spec/actool").CombinedOutput(); err != nil {
		t.Fatalf("building actool: %v\n%s", err, out)
	}
	ln, port := listen(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	pub, err := publish.Publish(ctx, publish.Options{Dir: filepath.Join(work, "www"), PubKeys: []string{e.good + ".pub.asc"},
		BaseURL: base, Images: []string{e.images[prefix+"/hello:1.0.0"]}})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(t, ln, pub.Root)
	cmd := step.Command(ctx, actool, "discover", "--json", fmt.Sprintf("--port=%d", port), prefix+"/hello:1.0.0")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+e.certs.CACert)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("actool discover: %v\n%s", err, out)
	}
	for _, want := range []string{
		base + "/" + prefix + "/hello-1.0.0-linux-amd64.aci",
		base + "/" + prefix + "/hello-1.0.0-linux-amd64.aci.asc",
		base + "/pubkeys.gpg",
	} {
		if !strings.Contains(string(out), `"`+want+`"`) {
			t.Errorf("actool discover output lacks %s:\n%s", want, out)
		}
	}
}
