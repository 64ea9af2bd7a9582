package remotecache

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fill writes a small tree: files, a nested directory, a symlink.
func fill(t *testing.T, dir string) {
	t.Helper()
	for name, body := range map[string]string{"bzImage": "kernel", "release": "6.1.0\n", "headers/lib/modules/6.1.0/include/x.h": "#define X 1\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("include", filepath.Join(dir, "headers/lib/modules/6.1.0/source")); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip stores a tree over real HTTP on loopback and reads it
// back in another place; a missing key is a miss, not an error; a
// corrupted blob is refused and leaves no destination.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	storeDir := t.TempDir()
	srv := httptest.NewServer(DirHandler(storeDir))
	defer srv.Close()
	s, err := New(srv.URL+"/steps/", nil)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	fill(t, src)
	key := Key("kernel:build", "config-hash", "source-hash")
	if err := s.Put(ctx, key, src); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	ok, err := s.Get(ctx, key, dest)
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	for name, want := range map[string]string{"bzImage": "kernel", "release": "6.1.0\n", "headers/lib/modules/6.1.0/source/x.h": "#define X 1\n"} {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}

	ok, err = s.Get(ctx, Key("other"), filepath.Join(t.TempDir(), "miss"))
	if ok || err != nil {
		t.Errorf("missing key: Get = %v, %v; want a miss", ok, err)
	}

	// Corrupt the stored blob: Get must refuse it and create nothing.
	blobs, _ := filepath.Glob(filepath.Join(storeDir, "steps", "blob", "*.tar.gz"))
	if len(blobs) != 1 {
		t.Fatalf("blobs %v", blobs)
	}
	if err := os.WriteFile(blobs[0], []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	ok, err = s.Get(ctx, key, bad)
	if ok || !errors.Is(err, ErrMismatch) {
		t.Fatalf("tampered blob: Get = %v, %v; want ErrMismatch", ok, err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("tampered blob left %s behind", bad)
	}
}

func TestNewRejects(t *testing.T) {
	for _, base := range []string{"", "ftp://x/y", "redis://127.0.0.1:6379", "http://"} {
		if _, err := New(base, nil); err == nil || !strings.Contains(err.Error(), "http") {
			t.Errorf("New(%q) = %v, want an error naming http(s)", base, err)
		}
	}
}

func TestServerErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	s, _ := New(srv.URL, nil)
	if _, err := s.Get(context.Background(), Key("k"), filepath.Join(t.TempDir(), "d")); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Get error %v, want the status", err)
	}
	src := t.TempDir()
	fill(t, src)
	if err := s.Put(context.Background(), Key("k"), src); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Put error %v, want the status", err)
	}
}
