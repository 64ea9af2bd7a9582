package static

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInstallSummary(t *testing.T) {
	for _, tc := range []struct {
		r    InstallResult
		want string
	}{
		{InstallResult{Dest: "/usr/local/bin/systemd-nspawn"}, "nspawn: /usr/local/bin/systemd-nspawn is already this build"},
		{InstallResult{Dest: "/d", Changed: true}, "nspawn: installed /d"},
		{InstallResult{Dest: "/d", Changed: true, Backup: "/d.orig"}, "nspawn: installed /d (previous file kept as /d.orig)"},
	} {
		if got := tc.r.Summary(); got != tc.want {
			t.Errorf("Summary(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// Describe runs the binary: a script standing in for the built nspawn
// prints a systemd-style version; one that fails is reported as not running.
func TestDescribeRunsTheBinary(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("#!/bin/sh\necho 'systemd 252 (252.39-1)'\necho '+PAM -SELINUX +SECCOMP'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	line, err := Result{Binary: good, Ran: true, Release: "bookworm", SystemdVersion: "252.39-1", UtilLinuxVersion: "2.38.1-5"}.Describe(context.Background(), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{good, "systemd 252 (252.39-1)", "built in 1m30s", "systemd 252.39-1 / util-linux 2.38.1-5 from bookworm", "features: "} {
		if !strings.Contains(line, want) {
			t.Errorf("report %q lacks %q", line, want)
		}
	}
	if _, err := (Result{Binary: bad}).Describe(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Errorf("a failing binary: %v", err)
	}
}
