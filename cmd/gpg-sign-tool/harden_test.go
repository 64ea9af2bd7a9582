package main

import (
	"bytes"
	"strings"
	"testing"
)

// verify takes 2 or 3 arguments, and its usage error says so.
func TestVerifyArgumentCountMessage(t *testing.T) {
	for _, args := range [][]string{{"verify", "a"}, {"verify", "a", "b", "c", "d"}} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb, func(string) (string, bool) { return "", false })
		if code != 2 || !strings.Contains(errb.String(), "verify takes 2 or 3 arguments: verify FILE PUB [SIG]") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
	}
}
