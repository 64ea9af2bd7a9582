//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/sign"
)

// Issue 12, case 1 and 2: a real compiled magefile is interrupted with
// SIGINT and with SIGTERM in the middle of a pack, an extract, a fetch
// and a publish. Each run must stop within mage's cleanup window, exit
// non-zero, leave no output and no temporary, and a rerun must succeed
// and leave no temporary either.

var (
	intrMageOnce sync.Once
	intrMage     string
	intrMageErr  error
)

// interruptMage compiles the repository's magefile once into a binary the
// tests run directly (so the signal reaches the mage process itself).
func interruptMage(t *testing.T) string {
	t.Helper()
	intrMageOnce.Do(func() {
		dir, err := os.MkdirTemp(sharedRoot, "intr-mage-")
		if err != nil {
			intrMageErr = err
			return
		}
		intrMage = filepath.Join(dir, "mage")
		out, _, err := runMage(context.Background(), []string{"MAGEFILE_CACHE=" + filepath.Join(dir, "cache")}, "-compile", intrMage)
		if err != nil {
			intrMageErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if intrMageErr != nil {
		t.Fatalf("compiling the magefile: %v", intrMageErr)
	}
	return intrMage
}

// intrEnv is a private configuration under work.
func intrEnv(work string) []string {
	return []string{
		"S1B_BUILD_DIR=" + filepath.Join(work, "build"),
		"S1B_OUT_DIR=" + filepath.Join(work, "out"),
		"S1B_ACI_DIR=" + filepath.Join(work, "aci"),
		"CACHE_DIR=" + filepath.Join(work, "cache"),
		"BINS_DIR=" + filepath.Join(work, "bins"),
		"SIGNING_KEY=" + filepath.Join(work, "keys", "signer"),
		"SIGNING_PASSPHRASE_FILE=",
		"KEY_PASSPHRASE=",
		"TRUST_DIR=" + filepath.Join(work, "trust"),
		"STORE_DIR=" + filepath.Join(work, "store"),
		"PUBLISH_DIR=" + filepath.Join(work, "www"),
		"CERT_DIR=" + filepath.Join(work, "certs"),
		"CERT_HOSTS=127.0.0.1",
		"ACI_REGISTRY=127.0.0.1/rktbuild",
		"SOURCE_DATE_EPOCH=1700000000",
		"CI=",
	}
}

// mageProc is a running mage process.
type mageProc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{} // closed when the process ended; err is then set
	err  error
}

func startMage(t *testing.T, work string, env []string, args ...string) *mageProc {
	t.Helper()
	cmd := exec.Command(interruptMage(t), args...)
	cmd.Dir = work
	cmd.Env = append(append(os.Environ(), intrEnv(work)...), env...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &mageProc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// runMageIn runs a mage target to completion and fails the test on error.
func runMageIn(t *testing.T, work string, env []string, args ...string) string {
	t.Helper()
	p := startMage(t, work, env, args...)
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("mage %s: %v\n%s", strings.Join(args, " "), p.err, p.out)
		}
	case <-time.After(10 * time.Minute):
		t.Fatalf("mage %s did not finish", strings.Join(args, " "))
	}
	return p.out.String()
}

// waitFor polls until cond holds (a condition, never a fixed sleep) or the
// process ended; it fails the test when the process ended first.
func waitFor(t *testing.T, p *mageProc, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("mage ended (%v) before %s:\n%s", p.err, what, p.out)
		default:
		}
	}
	t.Fatalf("%s did not happen", what)
}

// interrupt sends sig to the process and wants it to end, non-zero,
// within mage's 5 s cleanup window (plus scheduling slack).
func interrupt(t *testing.T, p *mageProc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-p.done:
		if p.err == nil {
			t.Errorf("mage exited 0 after %v:\n%s", sig, p.out)
		}
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("mage took %s to stop after %v", took, sig)
		}
		if strings.Contains(p.out.String(), "cleanup timeout exceeded") {
			t.Errorf("mage's cleanup timed out:\n%s", p.out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("mage still runs 20 s after %v:\n%s", sig, p.out)
	}
}

// leftovers lists the entries under dir whose names match any pattern.
func leftovers(t *testing.T, dir string, patterns ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		for _, pat := range patterns {
			if ok, _ := filepath.Match(pat, d.Name()); ok {
				found = append(found, p)
			}
		}
		return nil
	})
	return found
}

func sizeOf(glob string) int64 {
	var n int64
	m, _ := filepath.Glob(glob)
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// writeLayout writes an ACI layout dir (manifest + rootfs/) named name.
func writeLayout(t *testing.T, dir, name string, files map[string]int64, random bool) {
	t.Helper()
	m, err := aci.NewManifest(name, map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := aci.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest"), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	for rel, size := range files {
		f, err := os.Create(filepath.Join(dir, "rootfs", rel))
		if err != nil {
			t.Fatal(err)
		}
		if random {
			_, err = io.CopyN(f, rand.Reader, size)
		} else {
			err = f.Truncate(size) // a hole: zeros without disk space
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

var signals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}

func TestInterruptPack(t *testing.T) {
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			work := t.TempDir()
			layout := filepath.Join(work, "layout")
			writeLayout(t, layout, "127.0.0.1/rktbuild/big", map[string]int64{"big": 8 << 30}, false)
			out := filepath.Join(work, "out", "big.aci")
			p := startMage(t, work, nil, "aci:build", layout, out)
			waitFor(t, p, "the pack temporary holds 4 MiB", func() bool {
				return sizeOf(filepath.Join(work, "out", ".big.aci.tmp-*")) >= 4<<20
			})
			interrupt(t, p, sig)
			if left := leftovers(t, work, "big.aci", ".big.aci.tmp-*"); len(left) > 0 {
				t.Errorf("interrupted pack left %v", left)
			}
			// A clean rerun on a small tree.
			os.Truncate(filepath.Join(layout, "rootfs", "big"), 1<<20)
			runMageIn(t, work, nil, "aci:build", layout, out)
			if left := leftovers(t, work, ".big.aci.tmp-*"); len(left) > 0 {
				t.Errorf("rerun left %v", left)
			}
			if err := aci.Validate(out); err != nil {
				t.Errorf("rerun output: %v", err)
			}
		})
	}
}

// writeSparseACI writes an uncompressed ACI whose rootfs/big is size zero
// bytes held in a hole.
func writeSparseACI(t *testing.T, file string, size int64) {
	t.Helper()
	dir := t.TempDir()
	writeLayout(t, dir, "127.0.0.1/rktbuild/big", map[string]int64{"big": 0}, false)
	mb, _ := os.ReadFile(filepath.Join(dir, "manifest"))
	var hdr bytes.Buffer
	tw := newTarHeaders(&hdr, mb, size)
	_ = tw
	if err := os.WriteFile(file, hdr.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, int64(hdr.Len())+size+1024); err != nil {
		t.Fatal(err)
	}
}

func TestInterruptExtract(t *testing.T) {
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			work := t.TempDir()
			file := filepath.Join(work, "big.aci")
			writeSparseACI(t, file, 8<<30)
			dest := filepath.Join(work, "tree")
			p := startMage(t, work, nil, "aci:extract", file, dest)
			waitFor(t, p, "the extraction temporary holds 32 MiB", func() bool {
				return sizeOf(filepath.Join(work, ".tree.tmp-*", "rootfs", "big")) >= 32<<20
			})
			interrupt(t, p, sig)
			if strings.Contains(p.out.String(), "extracted") {
				t.Errorf("interrupted extract claims success:\n%s", p.out)
			}
			if left := leftovers(t, work, "tree", ".tree.tmp-*", "tree.old"); len(left) > 0 {
				t.Errorf("interrupted extract left %v", left)
			}
			small := filepath.Join(work, "small.aci")
			writeSparseACI(t, small, 1<<20)
			runMageIn(t, work, nil, "aci:extract", small, dest)
			if left := leftovers(t, work, ".tree.tmp-*"); len(left) > 0 {
				t.Errorf("rerun left %v", left)
			}
			if fi, err := os.Stat(filepath.Join(dest, "rootfs", "big")); err != nil || fi.Size() != 1<<20 {
				t.Errorf("rerun output: %v %v", fi, err)
			}
		})
	}
}

// signedImages packs n images of a random rootfs of size bytes under
// S1B_ACI_DIR and signs them with the configured key (made here).
func signedImages(t *testing.T, work string, n int, size int64) (fpr string) {
	t.Helper()
	keyBase := filepath.Join(work, "keys", "signer")
	fpr, err := sign.GenKey(keyBase, sign.Identity{Name: "interrupt test", Comment: "e2e", Email: "test@localhost"}, 2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(work, "layout")
	writeLayout(t, layout, "127.0.0.1/rktbuild/img0", map[string]int64{"data": size}, true)
	for i := 0; i < n; i++ {
		m, err := aci.NewManifest(fmt.Sprintf("127.0.0.1/rktbuild/img%d", i), map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(work, "aci", fmt.Sprintf("img%d.aci", i))
		if _, err := aci.PackRootfs(context.Background(), m, filepath.Join(layout, "rootfs"), out, aci.PackOptions{ForceRoot: true, Level: 1}); err != nil {
			t.Fatal(err)
		}
		if err := sign.SignFile(out, keyBase+".key.asc", nil); err != nil {
			t.Fatal(err)
		}
	}
	return fpr
}

func TestInterruptPublish(t *testing.T) {
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			work := t.TempDir()
			signedImages(t, work, 4, 192<<20)
			www := filepath.Join(work, "www")
			p := startMage(t, work, nil, "publish")
			waitFor(t, p, "the publish temporary tree appears", func() bool {
				m, _ := filepath.Glob(filepath.Join(www, "releases", ".tmp-*"))
				return len(m) > 0
			})
			interrupt(t, p, sig)
			if _, err := os.Lstat(filepath.Join(www, "current")); err == nil {
				t.Fatalf("publish finished before the signal (make the images larger):\n%s", p.out)
			}
			if left := leftovers(t, www, ".tmp-*", ".current.tmp"); len(left) > 0 {
				t.Errorf("interrupted publish left %v", left)
			}
			rels, _ := os.ReadDir(filepath.Join(www, "releases"))
			if len(rels) > 0 {
				t.Errorf("interrupted publish left releases %v", rels)
			}
			runMageIn(t, work, nil, "publish")
			if left := leftovers(t, www, ".tmp-*", ".current.tmp"); len(left) > 0 {
				t.Errorf("rerun left %v", left)
			}
			if _, err := os.Stat(filepath.Join(www, "current", "index.html")); err != nil {
				t.Errorf("rerun did not publish: %v", err)
			}
		})
	}
}

// trickle serves the web root, sending .aci bodies slowly (64 KiB per
// 20 ms) while slow is set.
type trickle struct {
	inner http.Handler
	root  string
	mu    sync.Mutex
	slow  bool
}

func (tr *trickle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	slow := tr.slow
	tr.mu.Unlock()
	if !slow || !strings.HasSuffix(r.URL.Path, ".aci") {
		tr.inner.ServeHTTP(w, r)
		return
	}
	f, err := os.Open(filepath.Join(tr.root, "current", filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	w.Header().Set("Content-Length", fmt.Sprint(fi.Size()))
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestInterruptFetch(t *testing.T) {
	work := t.TempDir()
	fpr := signedImages(t, work, 1, 32<<20)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	env := []string{fmt.Sprintf("PUBLISH_BASE_URL=https://127.0.0.1:%d", port)}
	runMageIn(t, work, env, "publish")
	cr, err := certs.Ensure(filepath.Join(work, "certs"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(work, "www")
	tr := &trickle{inner: serve.Handler(www, nil), root: www, slow: true}
	srv := &http.Server{Handler: tr}
	go srv.ServeTLS(ln, cr.ServerCert, cr.ServerKey)
	t.Cleanup(func() { srv.Close() })
	runMageIn(t, work, env, "trust", "discover", "-prefix=127.0.0.1/rktbuild", "-fingerprint="+fpr, fmt.Sprintf("-port=%d", port))
	store := filepath.Join(work, "store")
	ref := "127.0.0.1/rktbuild/img0:1.0.0"
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			p := startMage(t, work, env, "fetch", ref, fmt.Sprintf("-port=%d", port))
			waitFor(t, p, "the download holds 1 MiB", func() bool {
				return sizeOf(filepath.Join(store, "tmp", "fetch-*")) >= 1<<20
			})
			interrupt(t, p, sig)
			if left := leftovers(t, filepath.Join(store, "tmp"), "fetch-*"); len(left) > 0 {
				t.Errorf("interrupted fetch left %v", left)
			}
			if blobs := leftovers(t, filepath.Join(store, "cas"), "sha512-*"); len(blobs) > 0 {
				t.Errorf("interrupted fetch stored %v", blobs)
			}
		})
	}
	tr.mu.Lock()
	tr.slow = false
	tr.mu.Unlock()
	out := runMageIn(t, work, env, "fetch", ref, fmt.Sprintf("-port=%d", port))
	if !strings.Contains(out, "sha512-") {
		t.Errorf("rerun did not print the image ID:\n%s", out)
	}
	if left := leftovers(t, filepath.Join(store, "tmp"), "fetch-*"); len(left) > 0 {
		t.Errorf("rerun left %v", left)
	}
}

// sign:genKey interrupted while the RSA key is generated keeps no key
// (it used to write it and exit 1) and leaves no lock file.
func TestInterruptGenKey(t *testing.T) {
	for _, sig := range signals {
		t.Run(sig.String(), func(t *testing.T) {
			work := t.TempDir()
			base := filepath.Join(work, "keys", "extra")
			env := []string{"KEY_USE_NAME=e2e", "KEY_USE_COMMENT=interrupt", "KEY_USE_EMAIL=e2e@localhost"}
			p := startMage(t, work, env, "sign:genKey", base)
			waitFor(t, p, "key generation starts", func() bool {
				return strings.Contains(p.out.String(), "generating")
			})
			interrupt(t, p, sig)
			if left := leftovers(t, work, "extra*", ".extra*"); len(left) > 0 {
				t.Errorf("interrupted sign:genKey left %v:\n%s", left, p.out)
			}
			runMageIn(t, work, env, "sign:genKey", base)
			if _, err := os.Stat(base + ".key.asc"); err != nil {
				t.Errorf("rerun: %v", err)
			}
		})
	}
}

// SIGTERM sent to the `mage` process alone (not its group), as some job
// runners do: mage dies at once without forwarding it, and the compiled
// magefile it started must still stop cleanly (it asks the kernel for a
// SIGTERM when its parent dies) instead of packing on as an orphan.
func TestInterruptMageParentOnly(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	mageTool := filepath.Join(work, "mage-tool")
	build := exec.Command("go", "build", "-o", mageTool, "github.com/magefile/mage")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mage: %v\n%s", err, out)
	}
	layout := filepath.Join(work, "layout")
	writeLayout(t, layout, "127.0.0.1/rktbuild/big", map[string]int64{"big": 8 << 30}, false)
	out := filepath.Join(work, "out", "big.aci")
	cmd := exec.Command(mageTool, "-d", repo, "-w", work, "aci:build", layout, out)
	cmd.Env = append(append(os.Environ(), intrEnv(work)...), "MAGEFILE_CACHE="+filepath.Join(work, "magecache"))
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &mageProc{cmd: cmd, out: log, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	waitFor(t, p, "the pack temporary holds 4 MiB", func() bool {
		return sizeOf(filepath.Join(work, "out", ".big.aci.tmp-*")) >= 4<<20
	})
	// The child may have been forked by any of mage's threads.
	var kids []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		kids = append(kids, strings.Fields(string(b))...)
	}
	if len(kids) != 1 {
		t.Fatalf("mage's children: %q", kids)
	}
	var child int
	fmt.Sscan(kids[0], &child)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	deadline := time.Now().Add(8 * time.Second)
	for syscall.Kill(child, 0) == nil && time.Now().Before(deadline) {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); err == nil && strings.Contains(string(st), ") Z ") {
			break // exited, waiting for its reaper
		}
		time.Sleep(20 * time.Millisecond)
	}
	if syscall.Kill(child, 0) == nil {
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); !strings.Contains(string(st), ") Z ") {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("the compiled magefile %d still runs 8 s after its mage parent got SIGTERM", child)
		}
	}
	if left := leftovers(t, work, "big.aci", ".big.aci.tmp-*"); len(left) > 0 {
		t.Errorf("orphaned pack left %v\n%s", left, log.String())
	}
}
