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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/remotecache"
)

// The stage1 "fleet": one redis-server (ccache's remote storage) and one
// HTTP step store on loopback, shared by every stage1 test of the suite
// run, and machine A's cold build, which fills both. TestStage1 and
// TestStage1FromSource build on other "machines" (clean build and cache
// directories) against the same remote cache instead of each compiling a
// kernel. Under E2E_WORK the directories, the store and redis's
// append-only file survive the run, so a rerun starts warm.
type stage1Fleet struct {
	Root  string // sharedRoot/stage1
	Keys  string // the signing key every machine shares, so images compare
	Redis string // redis://127.0.0.1:PORT
	Store string // http://127.0.0.1:PORT/cache

	// Machine A's first buildStage1 of this run.
	AOut   string
	ATook  time.Duration
	AStats kernel.CCacheStats // A's ccache counters after it
}

var (
	fleetOnce sync.Once
	fleet     *stage1Fleet
	fleetErr  error

	cleanupMu sync.Mutex
	cleanups  []func() // run by TestMain after the suite
)

// atSuiteEnd registers f to run when the whole suite ends (servers that
// outlive one test).
func atSuiteEnd(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// runSuiteCleanups runs what atSuiteEnd registered, newest first.
func runSuiteCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// stage1FleetTools are the commands machine A's build, the smoke boot and
// the remote cache run (prestartShared checks them too).
var stage1FleetTools = []string{"make", "gcc", "flex", "bison", "bc", "xz", "patch", "qemu-system-x86_64", "ccache", "redis-server"}

// stage1Prereqs skips (fails under CI=true) unless the kernel build, the
// smoke boot and the remote cache can run here.
func stage1Prereqs(t *testing.T) {
	t.Helper()
	needTools(t, "make gcc flex bison bc xz-utils patch qemu-system-x86 ccache redis-server", stage1FleetTools...)
	if m, _ := filepath.Glob("/usr/src/linux-source-*.tar.*"); len(m) == 0 && os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to install the linux-source package, or it installed")
	}
}

// sharedStage1Fleet starts the remote cache and runs machine A's
// buildStage1 once per suite run; every caller gets the same result.
// Machine A holds the machine-wide kernel build lock while it builds.
func sharedStage1Fleet(t *testing.T, ctx context.Context) *stage1Fleet {
	t.Helper()
	fleetOnce.Do(func() { fleet, fleetErr = startStage1Fleet(ctx) })
	if fleetErr != nil {
		t.Fatal(fleetErr)
	}
	return fleet
}

func startStage1Fleet(ctx context.Context) (*stage1Fleet, error) {
	root := filepath.Join(sharedRoot, "stage1")
	// Machines B and C must start clean on every run; A (and the remote
	// cache) may be kept by E2E_WORK.
	for _, d := range []string{"b", "c"} {
		if err := os.RemoveAll(filepath.Join(root, d)); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"redis", "store"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	f := &stage1Fleet{Root: root, Keys: filepath.Join(root, "keys", "stage1")}
	var err error
	if f.Redis, err = startRedis(filepath.Join(root, "redis")); err != nil {
		return nil, err
	}
	srv := httptest.NewServer(remotecache.DirHandler(filepath.Join(root, "store")))
	atSuiteEnd(srv.Close)
	f.Store = srv.URL + "/cache"

	a := filepath.Join(root, "a")
	f.AOut, f.ATook, err = runMageLocked(ctx, f.MachineEnv(a, f.Redis+" "+f.Store), "-v", "buildStage1")
	if err != nil {
		return nil, fmt.Errorf("machine A: buildStage1 failed after %s: %v\n%s", f.ATook, err, testutil.Tail(f.AOut, 80))
	}
	if f.AStats, err = kernel.ReadCCacheStats(ctx, filepath.Join(a, "cache", "kernel", "ccache")); err != nil {
		return nil, err
	}
	return f, nil
}

// MachineEnv is the environment of one "machine" under root: its own
// build, cache and output directories, the fleet's signing key, ccache on,
// no SOURCE_DATE_EPOCH (derived), and S1B_REMOTE_CACHE=remote.
func (f *stage1Fleet) MachineEnv(root, remote string, extra ...string) []string {
	return append([]string{
		"S1B_OUT_DIR=" + filepath.Join(root, "out"),
		"S1B_BUILD_DIR=" + filepath.Join(root, "build"),
		"CACHE_DIR=" + filepath.Join(root, "cache"),
		"SIGNING_KEY=" + f.Keys,
		"TRUST_DIR=" + filepath.Join(root, "trust"),
		"S1B_KERNEL_VERSION=",
		"S1B_KERNEL_SOURCE=auto",
		"S1B_JOBS=2",
		"S1B_QEMU_ACCEL=tcg",
		"S1B_UPSTREAM_STAGE1_KVM_ACI=",
		"S1B_CCACHE=on",
		"S1B_REMOTE_CACHE=" + remote,
		"SOURCE_DATE_EPOCH=",
		"CCACHE_LOGFILE=" + CompileLog(root),
	}, extra...)
}

// startRedis runs a private redis-server on a free loopback port until
// the suite ends and returns its redis:// URL. Its append-only file in dir
// keeps ccache's entries across runs when dir is kept (E2E_WORK).
func startRedis(dir string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "yes", "--appendfsync", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes")
	// It dies with the test binary even when the suite is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("redis-server: %w", err)
	}
	atSuiteEnd(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if log.Len() < 4096 {
				log.WriteString(sc.Text() + "\n")
			}
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("redis-server did not become ready in 60s (it loads %s/appendonlydir first)", dir)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d", port), nil
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

// stepRan reports whether a `mage -v` log shows the named step running
// (a step whose inputs were unchanged prints nothing of the sort).
func stepRan(out, name string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, name) && ranRE.MatchString(l) {
			return true
		}
	}
	return false
}

// CompileLog is where ccache logs a machine's compiler calls (its
// CCACHE_LOGFILE, which the kernel build passes on).
func CompileLog(root string) string { return filepath.Join(root, "ccache.log") }

// kernelCompiles returns the compiles a machine's build ran (see
// kernel.Compiles); a missing log means ccache was never called.
func kernelCompiles(t *testing.T, root string) []kernel.Compile {
	t.Helper()
	b, err := os.ReadFile(CompileLog(root))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return kernel.Compiles(string(b))
}

// splitTools separates the compiles of the kernel's tools/ programs
// (kernel.Compile.InTools) from the rest and returns the source names.
func splitTools(cc []kernel.Compile) (kernelFiles, tools []string) {
	for _, c := range cc {
		if c.InTools() {
			tools = append(tools, c.Source)
		} else {
			kernelFiles = append(kernelFiles, c.Source)
		}
	}
	return kernelFiles, tools
}

// firstFew is at most n items of l, for error messages.
func firstFew[T any](l []T, n int) []T {
	if len(l) > n {
		return l[:n]
	}
	return l
}
