package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

// TestUsageGolden pins the usage text (the tool's interface) in
// testdata/sign/gpg-sign-tool-usage.golden; run with -update to accept a
// change.
func TestUsageGolden(t *testing.T) {
	golden := filepath.Join("..", "..", "testdata", "sign", "gpg-sign-tool-usage.golden")
	var out, errb bytes.Buffer
	if code := run([]string{"help"}, &out, &errb, func(string) (string, bool) { return "", false }); code != 0 {
		t.Fatalf("help: exit %d: %s", code, errb.String())
	}
	testutil.Golden(t, golden, out.Bytes())
}

// TestRunInProcess checks the exit codes of run itself (the binary is
// tested end to end in package sign).
func TestRunInProcess(t *testing.T) {
	env := map[string]string{"KEY_USE_NAME": "T", "KEY_USE_COMMENT": "c", "KEY_USE_EMAIL": "t@example.com"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	dir := t.TempDir()
	base := filepath.Join(dir, "k")
	data := filepath.Join(dir, "d")
	os.WriteFile(data, []byte("data"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"genkey", "-bits", "2048", base}, 0},
		{[]string{"sign", data, base + ".key.asc"}, 0},
		{[]string{"verify", data, base + ".pub.asc"}, 0},
		{[]string{"verify", data, base + ".pub.asc", data + ".asc"}, 0},
		{[]string{"verify", base + ".pub.asc", base + ".pub.asc"}, 1}, // no signature file
		{[]string{"identify", base + ".pub.asc"}, 0},
		{[]string{"version", "extra"}, 2},
		{[]string{"genkey"}, 2},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb, lookup); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, errb.String())
		}
	}
}
