//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/remotecache"
)

// needTool skips the test when a host tool is missing, except under
// CI=true, where a missing tool is a failure.
func needTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("needs %s and CI=true: install it (`go run mage.go setup`, .ci/packages)", tool)
			}
			t.Skipf("needs %s (see `mage doctor` and .ci/packages)", tool)
		}
	}
}

// startRedis runs a private redis-server on a free loopback port, without
// persistence, for the test's lifetime, and returns its redis:// URL.
func startRedis(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "yes")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("redis-server did not become ready in 30s")
	}
	return fmt.Sprintf("redis://127.0.0.1:%d", port)
}

// startStore runs an HTTP GET/PUT store on loopback over a temporary
// directory and returns its base URL.
func startStore(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(remotecache.DirHandler(t.TempDir()))
	t.Cleanup(srv.Close)
	return srv.URL + "/cache"
}

// ccacheStats reads the counters of a machine's local ccache directory.
func ccacheStats(t *testing.T, cacheDir string) kernel.CCacheStats {
	t.Helper()
	st, err := kernel.ReadCCacheStats(context.Background(), filepath.Join(cacheDir, "kernel", "ccache"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// machineEnv is the environment of one "machine": its own build, cache
// and output directories; the signing key is shared so images compare.
func machineEnv(root, keys string, extra ...string) []string {
	return append([]string{
		"S1B_OUT_DIR=" + filepath.Join(root, "out"),
		"S1B_BUILD_DIR=" + filepath.Join(root, "build"),
		"CACHE_DIR=" + filepath.Join(root, "cache"),
		"SIGNING_KEY=" + keys,
		"TRUST_DIR=" + filepath.Join(root, "trust"),
		"S1B_KERNEL_VERSION=",
		"S1B_KERNEL_SOURCE=auto",
		"S1B_JOBS=2",
		"S1B_QEMU_ACCEL=tcg",
		"S1B_UPSTREAM_STAGE1_KVM_ACI=",
		"S1B_CCACHE=on",
		"SOURCE_DATE_EPOCH=",
	}, extra...)
}
