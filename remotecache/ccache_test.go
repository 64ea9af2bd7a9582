package remotecache

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCCacheHTTPBackend runs the real ccache against DirHandler on
// loopback: a compile on "machine" A stores its result remotely; the same
// compile on B, with an empty local cache in another directory, is a
// remote hit and runs no compiler.
func TestCCacheHTTPBackend(t *testing.T) {
	for _, tool := range []string{"ccache", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("needs %s and CI=true: install it (.ci/packages)", tool)
			}
			t.Skipf("needs %s (apt-get install %s)", tool, tool)
		}
	}
	srv := httptest.NewServer(DirHandler(t.TempDir()))
	defer srv.Close()
	root := t.TempDir()
	stats := func(machine string) string {
		cmd := exec.Command("ccache", "--print-stats")
		cmd.Env = append(os.Environ(), "CCACHE_DIR="+filepath.Join(root, machine, "cache"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	for _, machine := range []string{"a", "b"} {
		src := filepath.Join(root, machine, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "m.c"), []byte("int answer(void) { return 42; }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ccache", "gcc", "-c", filepath.Join(src, "m.c"), "-o", filepath.Join(src, "m.o"))
		cmd.Dir = src
		cmd.Env = append(os.Environ(),
			"CCACHE_DIR="+filepath.Join(root, machine, "cache"),
			"CCACHE_BASEDIR="+filepath.Join(root, machine),
			"CCACHE_NOHASHDIR=1",
			"CCACHE_REMOTE_STORAGE="+srv.URL+"/ccache")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("machine %s: ccache gcc: %v\n%s", machine, err, out)
		}
	}
	a, b := stats("a"), stats("b")
	for _, want := range []string{"cache_miss\t1\n", "remote_storage_write\t"} {
		if !strings.Contains(a, want) {
			t.Errorf("machine A stats lack %q:\n%s", want, a)
		}
	}
	for _, want := range []string{"cache_miss\t0\n", "remote_storage_hit\t1\n", "remote_storage_error\t0\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("machine B stats lack %q (want a remote hit, no compile):\n%s", want, b)
		}
	}
}
