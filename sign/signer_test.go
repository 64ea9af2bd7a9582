package sign

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rktbuild/rktbuild/internal/say"
)

// testSigner builds a signer from settings named like the configuration
// keys, with the shipped defaults for the identity.
func testSigner(t *testing.T, env map[string]string) *Signer {
	t.Helper()
	get := func(k, def string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return def
	}
	return NewSigner(SignerOptions{
		Base:           get("SIGNING_KEY", ""),
		PassphraseFile: get("SIGNING_PASSPHRASE_FILE", ""),
		Identity: Identity{
			Name:    get("KEY_USE_NAME", "rktbuild"),
			Comment: get("KEY_USE_COMMENT", "rktbuild image signing key"),
			Email:   get("KEY_USE_EMAIL", "rktbuild@localhost"),
		},
	})
}

// quietOutput captures the messages written with the returned context.
func quietOutput(t *testing.T) (context.Context, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	return say.WithWriter(context.Background(), &buf), &buf
}

func init() { ensureBits = 2048 } // TestGenKeyDefault4096 covers the default

func TestSignerEnsure(t *testing.T) {
	ctx, out := quietOutput(t)
	t.Setenv(PassphraseEnv, "")
	dir := t.TempDir()
	base := filepath.Join(dir, "keys", "rktbuild")
	c := testSigner(t, map[string]string{"SIGNING_KEY": base, "KEY_USE_NAME": "Builder", "KEY_USE_COMMENT": "CI", "KEY_USE_EMAIL": "ci@example.com"})

	// Several goroutines sign at once on first use: one key results.
	var wg sync.WaitGroup
	fprs := make([]string, 4)
	gens := make([]bool, 4)
	errs := make([]error, 4)
	for i := range fprs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fprs[i], gens[i], errs[i] = c.Ensure(ctx)
		}(i)
	}
	wg.Wait()
	generated := 0
	for i := range fprs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if fprs[i] != fprs[0] {
			t.Fatalf("EnsureKey returned different keys: %v", fprs)
		}
		if gens[i] {
			generated++
		}
	}
	if generated != 1 {
		t.Fatalf("%d calls generated a key, want exactly 1", generated)
	}
	if !strings.Contains(out.String(), "fingerprint "+strings.ToUpper(fprs[0])) {
		t.Errorf("generation did not print the fingerprint:\n%s", out)
	}
	info, err := Identify(base + PublicKeySuffix)
	if err != nil || info.UserID != "Builder (CI) <ci@example.com>" || info.Fingerprint != fprs[0] {
		t.Fatalf("generated key: %+v, %v", info, err)
	}

	// A lost public key is re-exported from the private key.
	os.Remove(base + PublicKeySuffix)
	fpr, gen, err := c.Ensure(ctx)
	if err != nil || gen || fpr != fprs[0] {
		t.Fatalf("EnsureKey after losing the public key: %s %v %v", fpr, gen, err)
	}
	if info, err := Identify(base + PublicKeySuffix); err != nil || info.Fingerprint != fpr || info.Private {
		t.Fatalf("re-exported public key: %+v, %v", info, err)
	}

	// SignFile signs with it.
	f := writeData(t, "img.aci", artifact())
	if err := c.SignFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if signer, err := VerifyFile(f, "", base+PublicKeySuffix); err != nil || signer != "Builder (CI) <ci@example.com>" {
		t.Fatalf("VerifyFile = %q, %v", signer, err)
	}
}

func TestSignerEnsurePassphrase(t *testing.T) {
	ctx, _ := quietOutput(t)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte("s3cret\n"), 0o600)
	base := filepath.Join(dir, "k")
	env := map[string]string{"SIGNING_KEY": base, "SIGNING_PASSPHRASE_FILE": passFile}
	c := testSigner(t, env)
	t.Setenv(PassphraseEnv, "ignored: the file wins")
	f := writeData(t, "img.aci", artifact())
	if err := c.SignFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if info, _ := Identify(base + PrivateKeySuffix); !info.Encrypted {
		t.Fatal("key generated with SIGNING_PASSPHRASE_FILE is not protected")
	}
	if err := SignFile(f, base, []byte("s3cret")); err != nil {
		t.Fatalf("the file's passphrase (without its newline) does not unlock the key: %v", err)
	}
	// From the environment instead of the file.
	c2 := testSigner(t, map[string]string{"SIGNING_KEY": base})
	t.Setenv(PassphraseEnv, "s3cret")
	if err := c2.SignFile(ctx, f); err != nil {
		t.Fatalf("KEY_PASSPHRASE: %v", err)
	}
	t.Setenv(PassphraseEnv, "")
	if err := c2.SignFile(ctx, f); err == nil || !strings.Contains(err.Error(), "KEY_PASSPHRASE") {
		t.Fatalf("protected key without passphrase: %v", err)
	}
}

func TestSignerEnsureErrors(t *testing.T) {
	ctx, _ := quietOutput(t)
	t.Setenv(PassphraseEnv, "")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	pubOnly := filepath.Join(dir, "pubonly")
	os.WriteFile(pubOnly+PrivateKeySuffix, mustRead(t, keyA+PublicKeySuffix), 0o600)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no SIGNING_KEY", map[string]string{"SIGNING_KEY": ""}, "missing SIGNING_KEY"},
		{"no KEY_USE_EMAIL", map[string]string{"SIGNING_KEY": filepath.Join(dir, "a"), "KEY_USE_EMAIL": ""}, "missing KEY_USE_EMAIL"},
		{"no KEY_USE_NAME", map[string]string{"SIGNING_KEY": filepath.Join(dir, "b"), "KEY_USE_NAME": ""}, "missing KEY_USE_NAME"},
		{"missing passphrase file", map[string]string{"SIGNING_KEY": filepath.Join(dir, "c"), "SIGNING_PASSPHRASE_FILE": filepath.Join(dir, "nope")}, "SIGNING_PASSPHRASE_FILE"},
		{"empty passphrase file", map[string]string{"SIGNING_KEY": filepath.Join(dir, "d"), "SIGNING_PASSPHRASE_FILE": empty}, "is empty"},
		{"public key as private", map[string]string{"SIGNING_KEY": pubOnly}, "holds a public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := testSigner(t, tc.env).Ensure(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("EnsureKey: %v, want error containing %q", err, tc.want)
			}
		})
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if _, err := os.Stat(filepath.Join(dir, n+PrivateKeySuffix)); err == nil {
			t.Errorf("failed EnsureKey wrote %s", n+PrivateKeySuffix)
		}
	}
	// Nor does a failed generation leave its lock file (issue 12, case 9).
	if locks, _ := filepath.Glob(filepath.Join(dir, ".*.lock")); len(locks) > 0 {
		t.Errorf("failed EnsureKey left %v", locks)
	}
}

// The key lock is exclusive across goroutines and processes' open files,
// and gone once released.
func TestKeyLockRemovedAndExclusive(t *testing.T) {
	base := filepath.Join(t.TempDir(), "k")
	unlock, err := lockFile(base)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		u, err := lockFile(base)
		if err != nil {
			t.Error(err)
			u = func() {}
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("a second locker got the lock while it was held")
	default:
	}
	unlock()
	second := <-got // must get it, on a fresh file, after the removal
	second()
	if locks, _ := filepath.Glob(filepath.Join(filepath.Dir(base), ".*.lock")); len(locks) > 0 {
		t.Errorf("released lock left %v", locks)
	}
}
