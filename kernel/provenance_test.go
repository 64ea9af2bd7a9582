package kernel

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseTarListDate(t *testing.T) {
	tests := []struct{ line, want string }{
		{"drwxrwxr-x root/root         0 2024-09-12 09:41:05 linux-6.1.112/\n", "2024-09-12T09:41:05Z"},
		{"-rw-r--r-- 0/0 1234 2023-01-02 03:04 linux/Makefile", "2023-01-02T03:04:00Z"},
		{"garbage", ""},
	}
	for _, tt := range tests {
		got, err := parseTarListDate(tt.line)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: no error", tt.line)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339) != tt.want {
			t.Errorf("%q: got %v, %v; want %s", tt.line, got, err, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		n, expected int64
		elapsed     time.Duration
		want        string
	}{
		{100, 0, 30 * time.Second, "100 objects built, 30s (no previous build to estimate from)"},
		{250, 1000, 60 * time.Second, "250/1000 objects (25%), 1m0s, ETA 3m0s"},
		{0, 1000, 5 * time.Second, "0/1000 objects (0%), 5s"},
		{1200, 1000, 90 * time.Second, "1200 objects built (1000 expected), 1m30s, finishing"},
		{7, incremental, 30 * time.Second, "7 objects rebuilt, 30s (incremental: only what changed is compiled, then the kernel is linked)"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.n, tt.expected, tt.elapsed); got != tt.want {
			t.Errorf("progressLine(%d, %d, %s) = %q, want %q", tt.n, tt.expected, tt.elapsed, got, tt.want)
		}
	}
}

func TestRemoteSplit(t *testing.T) {
	tests := []struct {
		in, cc, store, err string
	}{
		{"", "", "", ""},
		{"redis://127.0.0.1:6379", "redis://127.0.0.1:6379", "", ""},
		{"http://127.0.0.1:8080/cache/", "http://127.0.0.1:8080/cache/ccache", "http://127.0.0.1:8080/cache/steps", ""},
		{"redis://r:6379  https://s/c", "redis://r:6379 https://s/c/ccache", "https://s/c/steps", ""},
		{"http://a/x http://b/y", "", "", "two HTTP stores"},
		{"ftp://a/x", "", "", `scheme "ftp" is not supported`},
		{"not-a-url", "", "", "is not a URL"},
	}
	for _, tt := range tests {
		cc, store, err := RemoteSplit(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "S1B_REMOTE_CACHE") {
				t.Errorf("RemoteSplit(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || cc != tt.cc || store != tt.store {
			t.Errorf("RemoteSplit(%q) = %q, %q, %v; want %q, %q", tt.in, cc, store, err, tt.cc, tt.store)
		}
	}
}

func TestParseCCacheMode(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "AUTO": "auto", "on": "on", "1": "on", "off": "off", "no": "off", "maybe": ""} {
		got, err := ParseCCacheMode(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseCCacheMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseCCacheStats(t *testing.T) {
	in := "cache_miss\t12\ndirect_cache_hit\t3\npreprocessed_cache_hit\t2\nremote_storage_hit\t4\ncalled_for_link\t5\nremote_storage_error\t1\nfiles_in_cache\t99\nnot a line\n"
	got := parseCCacheStats(in)
	want := CCacheStats{Hits: 5, RemoteHits: 4, Misses: 12, Uncacheable: 5, RemoteErrors: 1}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestTarballDate builds a .tar.xz with GNU tar (entries stamped like a
// kernel.org release) and reads its date back through tar itself.
func TestTarballDate(t *testing.T) {
	dir := t.TempDir()
	src := dir + "/linux-9.9"
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src+"/Makefile", []byte("VERSION = 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tarball := dir + "/linux-9.9.tar.xz"
	cmd := exec.Command("tar", "--create", "--xz", "--mtime=2024-09-12 09:41:05Z", "--file", tarball, "-C", dir, "linux-9.9")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	got, err := tarballDate(context.Background(), tarball)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1726134065); got.Unix() != want {
		t.Errorf("date %v (%d), want %d", got, got.Unix(), want)
	}
	e, err := deriveEpoch(context.Background(), SourceRecord{Kind: SourceLocal}, tarball)
	if err != nil || e.Unix != 1726134065 || !strings.Contains(e.From, "linux-9.9.tar.xz") {
		t.Errorf("deriveEpoch = %+v, %v", e, err)
	}
	if _, err := tarballDate(context.Background(), dir+"/Makefile-missing.tar"); err == nil {
		t.Error("no error for a missing tarball")
	}
}

func TestCCacheResolve(t *testing.T) {
	if _, err := exec.LookPath("ccache"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs ccache and CI=true: install it (.ci/packages)")
		}
		t.Skip("needs ccache (apt-get install ccache)")
	}
	dir := t.TempDir()
	cc, env, err := CCache{Mode: "off", Dir: dir}.resolve("/base")
	if cc != "" || env != nil || err != nil {
		t.Errorf("off: %q %v %v", cc, env, err)
	}
	cc, env, err = CCache{Mode: "on", Dir: dir, Remote: "redis://127.0.0.1:6379"}.resolve("/base")
	if err != nil || !strings.HasSuffix(cc, "ccache gcc") {
		t.Fatalf("on: %q %v", cc, err)
	}
	joined := strings.Join(env, "\n")
	for _, want := range []string{"CCACHE_DIR=" + dir, "CCACHE_BASEDIR=/base", "CCACHE_NOHASHDIR=1", "CCACHE_REMOTE_STORAGE=redis://127.0.0.1:6379", "include_file_mtime"} {
		if !strings.Contains(joined, want) {
			t.Errorf("env lacks %q:\n%s", want, joined)
		}
	}
	if _, _, err := (CCache{Mode: "sometimes"}).resolve("/base"); err == nil || !strings.Contains(err.Error(), "S1B_CCACHE") {
		t.Errorf("a bad mode is not refused by name: %v", err)
	}
}
