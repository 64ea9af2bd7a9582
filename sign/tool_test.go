package sign

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestToolEndToEnd drives the built gpg-sign-tool binary through the
// original tool's workflow, and checks GnuPG accepts what it makes.
func TestToolEndToEnd(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "carly")
	ident := []string{"KEY_USE_NAME=Carly Container", "KEY_USE_COMMENT=ACI signing key", "KEY_USE_EMAIL=carly@example.com"}
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte("tool secret\n"), 0o600)
	withPass := append([]string{"SIGNING_PASSPHRASE_FILE=" + passFile}, ident...)

	code, stdout, stderr := runTool(t, withPass, "genkey", "-bits", "2048", base)
	if code != 0 {
		t.Fatalf("genkey: exit %d\n%s", code, stderr)
	}
	fpr := strings.Fields(stdout)[0]
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(fpr) || !strings.Contains(stdout, "Carly Container (ACI signing key) <carly@example.com>") {
		t.Fatalf("genkey stdout %q: want FINGERPRINT and the user ID", stdout)
	}
	for suffix, perm := range map[string]os.FileMode{".key.asc": 0o600, ".pub.asc": 0o644} {
		fi, err := os.Stat(base + suffix)
		if err != nil || fi.Mode().Perm() != perm {
			t.Fatalf("%s: %v mode %v, want %v", base+suffix, err, fi.Mode().Perm(), perm)
		}
	}

	code, stdout, _ = runTool(t, nil, "identify", base+".key.asc")
	if code != 0 || !strings.Contains(stdout, "fingerprint: "+fpr+"\n") ||
		!strings.Contains(stdout, "uid: Carly Container (ACI signing key) <carly@example.com>\n") ||
		!strings.Contains(stdout, "rsa2048 private key, passphrase-protected") {
		t.Fatalf("identify: exit %d\n%s", code, stdout)
	}

	aci := filepath.Join(dir, "hello-0.0.1-linux-amd64.aci")
	os.WriteFile(aci, artifact(), 0o644)
	// Without the passphrase, signing fails and writes nothing.
	if code, _, stderr := runTool(t, []string{"SIGNING_PASSPHRASE_FILE=", "KEY_PASSPHRASE="}, "sign", aci, base+".key.asc"); code != 1 || !strings.Contains(stderr, "passphrase") {
		t.Fatalf("sign without passphrase: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(aci + ".asc"); err == nil {
		t.Fatal("failed sign left a signature")
	}
	// With it in the environment.
	if code, _, stderr := runTool(t, []string{"SIGNING_PASSPHRASE_FILE=", "KEY_PASSPHRASE=tool secret"}, "sign", aci, base+".key.asc"); code != 0 {
		t.Fatalf("sign: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr = runTool(t, nil, "verify", aci, base+".pub.asc")
	if code != 0 || stderr != "Good signature from \"Carly Container (ACI signing key) <carly@example.com>\"\n" || stdout != "" {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Our library, x/crypto and GnuPG agree.
	if _, err := VerifyFile(aci, "", base); err != nil {
		t.Fatal(err)
	}
	if _, err := xVerify(base+".pub.asc", aci, aci+".asc"); err != nil {
		t.Fatalf("x/crypto: %v", err)
	}
	if g := optionalGPG(t); g != nil {
		g.must("--import", base+".pub.asc")
		g.must("--verify", aci+".asc", aci)
	}

	// Wrong key: exit 1 and no "Good signature".
	code, _, stderr = runTool(t, nil, "verify", aci, keyB+PublicKeySuffix)
	if code != 1 || strings.Contains(stderr, "Good signature") || !strings.Contains(stderr, "untrusted key") {
		t.Fatalf("verify with the wrong key: exit %d, %q", code, stderr)
	}
	// genkey refuses to replace the key.
	if code, _, stderr := runTool(t, withPass, "genkey", "-bits", "2048", base); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("genkey over an existing key: exit %d, %q", code, stderr)
	}
}

func TestToolExitCodes(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("this is not a key\n"), 0o644)
	noIdent := []string{"KEY_USE_NAME=", "KEY_USE_COMMENT=", "KEY_USE_EMAIL="}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, nil, 2, "missing command"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"sign without key", nil, []string{"sign", "x"}, 2, "sign takes 2 argument(s): sign FILE KEY"},
		{"verify too many", nil, []string{"verify", "a", "b", "c", "d"}, 2, "verify takes 2 or 3 arguments"},
		{"genkey bad flag", nil, []string{"genkey", "-bits", "many", "x"}, 2, "genkey:"},
		{"passphrase on argv", nil, []string{"sign", "x", "k", "--passphrase", "p"}, 2, "sign takes 2"},
		{"genkey without identity", noIdent, []string{"genkey", filepath.Join(dir, "k")}, 1, "missing KEY_USE_NAME, KEY_USE_COMMENT, KEY_USE_EMAIL"},
		{"identify missing file", nil, []string{"identify", filepath.Join(dir, "none")}, 1, "no such file"},
		{"identify garbage", nil, []string{"identify", garbage}, 1, "not a readable OpenPGP key"},
		{"sign missing file", nil, []string{"sign", filepath.Join(dir, "none"), keyA + PrivateKeySuffix}, 1, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runTool(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", code, stderr, tc.code, tc.stderr)
			}
			if code == 2 && !strings.Contains(stderr, "usage:") {
				t.Errorf("usage error without usage text: %q", stderr)
			}
		})
	}
	code, stdout, _ := runTool(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "gpg-sign-tool ") {
		t.Fatalf("version: exit %d, %q", code, stdout)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed commands wrote %v", ents)
	}
}
