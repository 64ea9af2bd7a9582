package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	res, err := Ensure(dir, []string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Generated) != 4 {
		t.Errorf("generated %v, want CA and server files", res.Generated)
	}
	for _, k := range []string{res.CAKey, res.ServerKey} {
		fi, err := os.Stat(k)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", k, fi.Mode(), err)
		}
	}
	pair, err := tls.LoadX509KeyPair(res.ServerCert, res.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Pool(res.CACert)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", h, err)
		}
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err == nil {
		t.Error("server certificate verifies for a host it was not made for")
	}

	// Second run: everything reused, byte for byte.
	before, _ := os.ReadFile(res.ServerCert)
	again, err := Ensure(dir, []string{"127.0.0.1", "localhost"})
	if err != nil || len(again.Generated) != 0 {
		t.Fatalf("second run generated %v (%v)", again.Generated, err)
	}
	after, _ := os.ReadFile(res.ServerCert)
	if string(before) != string(after) {
		t.Error("a valid server certificate was rewritten")
	}

	// A new host: the server certificate is reissued from the same CA.
	caBefore, _ := os.ReadFile(res.CACert)
	more, err := Ensure(dir, []string{"localhost", "registry.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(more.Generated, []string{res.ServerKey, res.ServerCert}) {
		t.Errorf("adding a host generated %v, want only the server pair", more.Generated)
	}
	caAfter, _ := os.ReadFile(res.CACert)
	if string(caBefore) != string(caAfter) {
		t.Error("the CA changed when only a host was added")
	}
}

func TestUserProvided(t *testing.T) {
	gen := t.TempDir()
	res, err := Ensure(gen, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	user := t.TempDir()
	for _, f := range []string{ServerCertFile, ServerKeyFile} {
		b, _ := os.ReadFile(filepath.Join(gen, f))
		os.WriteFile(filepath.Join(user, f), b, 0o600)
	}
	got, err := Ensure(user, []string{"other.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.UserProvided || len(got.Generated) != 0 || got.CACert != "" {
		t.Errorf("user-provided certificate not used as is: %+v", got)
	}
	// A damaged user key is an error naming the files, not replaced.
	os.WriteFile(filepath.Join(user, ServerKeyFile), []byte("junk"), 0o600)
	if _, err := Ensure(user, []string{"localhost"}); err == nil || !strings.Contains(err.Error(), "user-provided") {
		t.Errorf("damaged user key: %v", err)
	}
	_ = res
}

func TestNoHosts(t *testing.T) {
	if _, err := Ensure(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "CERT_HOSTS") {
		t.Errorf("no hosts: %v", err)
	}
}
