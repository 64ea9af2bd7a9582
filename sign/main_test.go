package sign

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testenv"
)

// Keys generated once per test binary (2048 bits for speed; one test checks
// the 4096-bit default).
var (
	fixtureDir string
	keyA       string // base of an unprotected key
	keyB       string // base of a second, unrelated key
	keyP       string // base of a passphrase-protected key
	fprA       string
	fprB       string
	fprP       string
	idA        = Identity{Name: "Carly Container", Comment: "ACI signing key", Email: "carly@example.com"}
	idB        = Identity{Name: "Mallory", Comment: "not trusted", Email: "mallory@example.com"}
	passP      = []byte("correct horse battery staple")
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		fixtureDir, err = os.MkdirTemp("", "rktbuild-sign-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(fixtureDir)
		keyA, keyB, keyP = filepath.Join(fixtureDir, "a"), filepath.Join(fixtureDir, "b"), filepath.Join(fixtureDir, "p")
		var wg sync.WaitGroup
		errs := make([]error, 3)
		gen := func(i int, base string, id Identity, pass []byte, fpr *string) {
			defer wg.Done()
			*fpr, errs[i] = GenKey(base, id, 2048, pass)
		}
		wg.Add(3)
		go gen(0, keyA, idA, nil, &fprA)
		go gen(1, keyB, idB, nil, &fprB)
		go gen(2, keyP, Identity{"Protected", "passphrase", "p@example.com"}, passP, &fprP)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				fmt.Fprintln(os.Stderr, "generating test keys:", err)
				return 1
			}
		}
		return m.Run()
	}())
}

// writeData writes a test artifact and returns its path.
func writeData(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// artifact is binary test data shaped like a small gzip'd ACI.
func artifact() []byte {
	var b bytes.Buffer
	b.Write([]byte{0x1f, 0x8b, 0x08, 0x00})
	for i := 0; i < 64<<10; i++ {
		b.WriteByte(byte(i*7 + i>>8))
	}
	return b.Bytes()
}

// --- GnuPG helpers --------------------------------------------------------

// gnupg is a throwaway GnuPG home.
type gnupg struct {
	t    *testing.T
	home string
}

func needGPG(t *testing.T) *gnupg {
	t.Helper()
	g := optionalGPG(t)
	if g == nil {
		testenv.Skip(t, "needs GnuPG: gpg is not installed (apt-get install gnupg)")
	}
	return g
}

// optionalGPG is needGPG for tests whose other checks run without GnuPG: it
// returns nil (and logs why) when gpg is not installed.
func optionalGPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		testenv.Missing(t, "GnuPG not installed (apt-get install gnupg): the GnuPG cross-checks do not run")
		return nil
	}
	// A short path: gpg-agent's socket path must fit in sun_path.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gnupg{t: t, home: home}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "all")
		c.Env = g.env()
		_ = c.Run()
		os.RemoveAll(home)
	})
	return g
}

func (g *gnupg) env() []string {
	return append(os.Environ(), "GNUPGHOME="+g.home, "LC_ALL=C")
}

// run runs gpg --batch args and returns combined output and error.
func (g *gnupg) run(args ...string) (string, error) {
	c := exec.Command("gpg", append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	c.Env = g.env()
	out, err := c.CombinedOutput()
	return string(out), err
}

func (g *gnupg) must(args ...string) string {
	g.t.Helper()
	out, err := g.run(args...)
	if err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
