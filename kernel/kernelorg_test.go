package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TestPinnedKeys checks that the key files shipped in kernel/keys are the
// real kernel.org keys: each file's primary key has the pinned fingerprint.
func TestPinnedKeys(t *testing.T) {
	if _, err := LoadKeys("keys", Autosigner, KroahHartman, Torvalds); err != nil {
		t.Fatal(err)
	}
	// A key file with another key is rejected, naming both fingerprints.
	_, err := LoadKeys("keys", PinnedKey{Name: "x", Fingerprint: KroahHartman.Fingerprint, File: Torvalds.File})
	if err == nil || !strings.Contains(err.Error(), Torvalds.Fingerprint) || !strings.Contains(err.Error(), KroahHartman.Fingerprint) {
		t.Errorf("wrong key file: %v", err)
	}
	_, err = LoadKeys(t.TempDir(), Autosigner)
	if err == nil || !strings.Contains(err.Error(), Autosigner.Fingerprint) || !strings.Contains(err.Error(), "add the armored public key") {
		t.Errorf("missing key file: %v", err)
	}
}

var (
	keyOnce sync.Once
	keyErr  error
	testKey = map[string]*openpgp.Entity{}
)

// testKeys generates the test autosigner, stable and mainline keys once.
func testKeys(t *testing.T) map[string]*openpgp.Entity {
	t.Helper()
	keyOnce.Do(func() {
		for _, n := range []string{"autosigner", "stable", "mainline", "intruder"} {
			e, err := openpgp.NewEntity("test "+n, "", n+"@kernel.test", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048})
			if err != nil {
				keyErr = err
				return
			}
			testKey[n] = e
		}
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return testKey
}

func pinOf(t *testing.T, e *openpgp.Entity, file string) PinnedKey {
	return PinnedKey{Name: e.PrimaryIdentity().Name, Fingerprint: strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)), File: file}
}

func writePub(t *testing.T, dir, file string, e *openpgp.Entity) {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	testutil.WriteFile(t, filepath.Join(dir, file), b.String())
}

func clearSign(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func detachSign(t *testing.T, e *openpgp.Entity, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, e, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// release is a fake kernel.org tree served over HTTPS on loopback.
type release struct {
	files map[string][]byte // path below the base URL
	hits  map[string]int
	mu    sync.Mutex
}

func (r *release) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	data, ok := r.files[strings.TrimPrefix(req.URL.Path, "/pub/linux/kernel/")]
	r.hits[req.URL.Path]++
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	http.ServeContent(w, req, "", time.Unix(0, 0), bytes.NewReader(data))
}

// makeRelease builds linux-<ver>.tar.xz with real tar and xz, signs the
// uncompressed tar with dev and a sha256sums.asc with the autosigner.
func makeRelease(t *testing.T, ver string, keys map[string]*openpgp.Entity, dev string) *release {
	t.Helper()
	for _, tool := range []string{"tar", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "needs %s", tool)
		}
	}
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "linux-"+ver, "Makefile"), "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 112\nEXTRAVERSION =\n")
	testutil.WriteFile(t, filepath.Join(dir, "linux-"+ver, "kernel", "reboot.c"), strings.Repeat("/* kernel */\n", 5000))
	tarFile := filepath.Join(dir, "linux-"+ver+".tar")
	if out, err := exec.Command("tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf", tarFile, "-C", dir, "linux-"+ver).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	tarData, _ := os.ReadFile(tarFile)
	if out, err := exec.Command("xz", "-k", "-1", tarFile).CombinedOutput(); err != nil {
		t.Fatalf("xz: %v %s", err, out)
	}
	xzData, _ := os.ReadFile(tarFile + ".xz")
	sum := sha256.Sum256(xzData)
	sums := fmt.Sprintf("%s  linux-6.0.tar.xz\n%s  linux-%s.tar.xz\n", strings.Repeat("0", 64), hex.EncodeToString(sum[:]), ver)
	return &release{
		hits: map[string]int{},
		files: map[string][]byte{
			"v6.x/sha256sums.asc":               clearSign(t, keys["autosigner"], sums),
			"v6.x/linux-" + ver + ".tar.xz":     xzData,
			"v6.x/linux-" + ver + ".tar.sign":   detachSign(t, keys[dev], tarData),
			"v6.x/linux-" + ver + ".tar.xz.raw": tarData,
		},
	}
}

func TestKernelOrgChain(t *testing.T) {
	keys := testKeys(t)
	keyDir := t.TempDir()
	pins := &Pins{
		Autosigner: pinOf(t, keys["autosigner"], "autosigner.asc"),
		Stable:     pinOf(t, keys["stable"], "stable.asc"),
		Mainline:   pinOf(t, keys["mainline"], "mainline.asc"),
	}
	writePub(t, keyDir, "autosigner.asc", keys["autosigner"])
	writePub(t, keyDir, "stable.asc", keys["stable"])
	writePub(t, keyDir, "mainline.asc", keys["mainline"])
	v, _ := ParseVersion("6.1.112")

	tests := []struct {
		name   string
		mutate func(r *release)
		err    string // "" means success
		kept   bool   // the tarball stays in the cache after the failure
	}{
		{name: "good tarball"},
		{name: "changed byte", mutate: func(r *release) {
			b := append([]byte(nil), r.files["v6.x/linux-6.1.112.tar.xz"]...)
			b[len(b)/2] ^= 1
			r.files["v6.x/linux-6.1.112.tar.xz"] = b
		}, err: "linux-6.1.112.tar.xz: sha256"},
		{name: "sums signed by the wrong key", mutate: func(r *release) {
			b, _ := clearsign.Decode(r.files["v6.x/sha256sums.asc"])
			r.files["v6.x/sha256sums.asc"] = clearSign(t, keys["intruder"], string(b.Plaintext))
		}, err: "sha256sums.asc: signed by key"},
		{name: "tarball signed by the wrong key", mutate: func(r *release) {
			r.files["v6.x/linux-6.1.112.tar.sign"] = detachSign(t, keys["mainline"], r.files["v6.x/linux-6.1.112.tar.xz.raw"])
		}, err: "linux-6.1.112.tar.sign: signed by key", kept: true},
		{name: "signature over other content", mutate: func(r *release) {
			raw := append([]byte(nil), r.files["v6.x/linux-6.1.112.tar.xz.raw"]...)
			raw[100] ^= 1
			r.files["v6.x/linux-6.1.112.tar.sign"] = detachSign(t, keys["stable"], raw)
		}, err: "linux-6.1.112.tar.sign: bad signature", kept: true},
		{name: "missing signature", mutate: func(r *release) {
			delete(r.files, "v6.x/linux-6.1.112.tar.sign")
		}, err: "missing signature", kept: true},
		{name: "unsigned sums", mutate: func(r *release) {
			b, _ := clearsign.Decode(r.files["v6.x/sha256sums.asc"])
			r.files["v6.x/sha256sums.asc"] = b.Plaintext
		}, err: "not a clear-signed message"},
		{name: "release not listed", mutate: func(r *release) {
			b, _ := clearsign.Decode(r.files["v6.x/sha256sums.asc"])
			r.files["v6.x/sha256sums.asc"] = clearSign(t, keys["autosigner"], strings.Split(string(b.Plaintext), "\n")[0]+"\n")
		}, err: "has no entry for linux-6.1.112.tar.xz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := makeRelease(t, "6.1.112", keys, "stable")
			if tt.mutate != nil {
				tt.mutate(rel)
			}
			srv := httptest.NewTLSServer(rel)
			defer srv.Close()
			cache := t.TempDir()
			ko := KernelOrg{BaseURL: srv.URL + "/pub/linux/kernel", CacheDir: cache, KeysDir: keyDir, Client: srv.Client(), Pins: pins}
			path, err := ko.Fetch(context.Background(), v)
			tarball := filepath.Join(cache, "v6.x", "linux-6.1.112.tar.xz")
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if path != tarball {
					t.Errorf("path %s, want %s", path, tarball)
				}
				got, _ := os.ReadFile(path)
				if !bytes.Equal(got, rel.files["v6.x/linux-6.1.112.tar.xz"]) {
					t.Error("cached tarball differs from the served one")
				}
				// A second fetch uses the cache for the tarball.
				if _, err := ko.Fetch(context.Background(), v); err != nil {
					t.Fatal(err)
				}
				if n := rel.hits["/pub/linux/kernel/v6.x/linux-6.1.112.tar.xz"]; n != 1 {
					t.Errorf("tarball downloaded %d times, want 1", n)
				}
				return
			}
			var ve *VerifyError
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
			if tt.err != "missing signature" && !errors.As(err, &ve) {
				t.Errorf("error %T is not a *VerifyError", err)
			}
			if _, serr := os.Stat(tarball); (serr == nil) != tt.kept {
				t.Errorf("tarball kept = %v, want %v", serr == nil, tt.kept)
			}
		})
	}

	// The real kernel.org pins reject the test keys, naming the file.
	rel := makeRelease(t, "6.1.112", keys, "stable")
	srv := httptest.NewTLSServer(rel)
	defer srv.Close()
	_, err := KernelOrg{BaseURL: srv.URL + "/pub/linux/kernel", CacheDir: t.TempDir(), KeysDir: keyDir, Client: srv.Client()}.Fetch(context.Background(), v)
	if err == nil || !strings.Contains(err.Error(), Autosigner.Fingerprint) {
		t.Errorf("default pins with test key files: %v", err)
	}
}

func TestDownloadResume(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64*1024)
	var ranges []string
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		http.ServeContent(w, r, "", time.Unix(0, 0), bytes.NewReader(data))
	}))
	defer srv.Close()
	tests := []struct {
		name, part, wantRange string
	}{
		{"fresh", "", ""},
		{"resume", string(data[:1000]), "bytes=1000-"},
		{"restart when the partial file is longer", string(data) + "garbage", "bytes=" + fmt.Sprint(len(data)+7) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ranges = nil
			dest := filepath.Join(t.TempDir(), "f.tar.xz")
			if tt.part != "" {
				testutil.WriteFile(t, dest+".part", tt.part)
			}
			if err := Download(context.Background(), srv.Client(), srv.URL+"/f.tar.xz", dest); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dest)
			if !bytes.Equal(got, data) {
				t.Errorf("downloaded %d bytes, want %d identical", len(got), len(data))
			}
			if _, err := os.Stat(dest + ".part"); !os.IsNotExist(err) {
				t.Error(".part left behind")
			}
			if len(ranges) == 0 || ranges[0] != tt.wantRange {
				t.Errorf("first request Range %q, want %q", ranges, tt.wantRange)
			}
		})
	}
	// A 404 leaves nothing under the final name.
	dest := filepath.Join(t.TempDir(), "missing")
	srv404 := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv404.Close()
	if err := Download(context.Background(), srv404.Client(), srv404.URL+"/x", dest); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Error("final file exists after a failed download")
	}
}
