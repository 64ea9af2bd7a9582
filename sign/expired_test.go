package sign

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A signature by a key that has since expired is refused with an error
// that says so and how to fix it (issue 12, case 9), not a bare
// "openpgp: key expired". The key and signature are made by real GnuPG
// with a faked clock in 2020 and a one-day lifetime.
func TestExpiredKeySaysHowToFix(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs gpg (apt-get install gnupg); CI=true makes a missing tool a failure")
		}
		t.Skip("needs gpg: apt-get install gnupg")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "gnupg")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	gpg("--faked-system-time", "20200101T000000", "--quick-gen-key", "Old Key <old@example.com>", "rsa2048", "sign", "1d")
	pub := filepath.Join(dir, "old.pub.asc")
	gpg("--armor", "--output", pub, "--export", "old@example.com")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("signed in 2020\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gpg("--faked-system-time", "20200101T010000", "--armor", "--detach-sign", "--output", data+".asc", data)
	_, err := VerifyFile(data, data+".asc", pub)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("VerifyFile with an expired key = %v, want ErrBadSignature", err)
	}
	for _, want := range []string{"has expired", "extend its expiry", "sign with a current key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
