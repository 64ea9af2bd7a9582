package deb

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseChangelog(t *testing.T) {
	tests := []struct {
		name, in, version, date, err string
	}{
		{"debian security upload", "linux (6.1.119-1) bookworm-security; urgency=high\n\n  * New upstream stable update\n\n -- Salvatore Bonaccorso <carnil@debian.org>  Sat, 23 Nov 2024 15:00:36 +0100\n\nlinux (6.1.115-1) bookworm; urgency=medium\n\n -- Someone <x@y>  Mon, 01 Jan 2024 00:00:00 +0000\n",
			"6.1.119-1", "2024-11-23T14:00:36Z", ""},
		{"ubuntu", "linux (6.8.0-49.49) noble; urgency=medium\n\n  * x\n\n -- Stefan Bader <stefan.bader@canonical.com>  Mon, 04 Nov 2024 12:00:00 +0000\n",
			"6.8.0-49.49", "2024-11-04T12:00:00Z", ""},
		{"no trailer", "linux (1-1) sid; urgency=low\n\n  * x\n", "", "", "no trailer line"},
		{"empty", "", "", "", "no entry heading"},
		{"bad date", "linux (1-1) sid; urgency=low\n\n -- A <a@b>  yesterday\n", "", "", "changelog trailer date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, d, err := ParseChangelog(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.version || d.UTC().Format(time.RFC3339) != tt.date {
				t.Errorf("got %s %s, want %s %s", v, d.UTC().Format(time.RFC3339), tt.version, tt.date)
			}
		})
	}
}

func writeChangelog(t *testing.T, root, pkg, text string) {
	t.Helper()
	dir := filepath.Join(root, "usr/share/doc", pkg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "changelog.Debian.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(text))
	zw.Close()
	f.Close()
}

func TestNewestPackageDate(t *testing.T) {
	root := t.TempDir()
	writeChangelog(t, root, "libc6", "glibc (2.36-9) bookworm; urgency=medium\n\n -- A <a@b>  Sat, 01 Jun 2024 10:00:00 +0000\n")
	writeChangelog(t, root, "apt", "apt (2.6.1) bookworm; urgency=medium\n\n -- A <a@b>  Mon, 02 Sep 2024 08:00:00 +0200\n")
	writeChangelog(t, root, "broken", "not a changelog\n")
	// A symlinked changelog pointing out of the root is not followed.
	if err := os.MkdirAll(filepath.Join(root, "usr/share/doc/evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/share/doc/bash/changelog.Debian.gz", filepath.Join(root, "usr/share/doc/evil/changelog.Debian.gz")); err != nil {
		t.Fatal(err)
	}
	got, pkg, err := NewestPackageDate(root)
	if err != nil {
		t.Fatal(err)
	}
	if pkg != "apt" || got.UTC().Format(time.RFC3339) != "2024-09-02T06:00:00Z" {
		t.Errorf("newest = %s %s, want apt 2024-09-02T06:00:00Z", pkg, got.UTC().Format(time.RFC3339))
	}
	if _, _, err := NewestPackageDate(t.TempDir()); err == nil || !strings.Contains(err.Error(), "newest package date") {
		t.Errorf("empty root: %v", err)
	}
}
