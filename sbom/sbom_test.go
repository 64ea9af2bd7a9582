package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

const status = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: libstdc++6
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: perl-base
Status: install ok installed
Architecture: amd64
Source: perl
Version: 5.36.0-7+deb12u1
Maintainer: Niko Tyni <ntyni@debian.org>

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Maintainer: Mark Brown <broonie@debian.org>
`

const dep5Glibc = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: glibc

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 The GNU C Library is free software.

Files: debian/*
Copyright: 2000 Someone
License: GPL-2+

License: LGPL-2.1+
 full text here
`

const dep5Perl = `Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: Larry Wall
License: GPL-1+ or Artistic

Files: cpan/Some/*
License: GPL-1+ or Artistic, and BSD-3-clause-with-extra
`

const freeForm = `This is the Debian prepackaged version of zlib.
Copyright (C) 1995-2022 Jean-loup Gailly and Mark Adler
`

func fixtureRootfs(t *testing.T, withBinary bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	add := func(name string, body []byte, mode int64) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: mt}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	manifest := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/base","labels":[{"name":"version","value":"12.8"}]}`
	add("manifest", []byte(manifest), 0o644)
	add("rootfs/usr/lib/os-release", []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"), 0o644)
	add("rootfs/var/lib/dpkg/status", []byte(status), 0o644)
	add("rootfs/usr/share/doc/libc6/copyright", []byte(dep5Glibc), 0o644)
	add("rootfs/usr/share/doc/perl/copyright", []byte(dep5Perl), 0o644)
	add("rootfs/usr/share/doc/zlib1g/copyright", []byte(freeForm), 0o644)
	if err := tw.WriteHeader(&tar.Header{Name: "rootfs/usr/share/doc/perl-base", Typeflag: tar.TypeSymlink, Linkname: "perl", ModTime: mt}); err != nil {
		t.Fatal(err)
	}
	if withBinary {
		add("rootfs/usr/local/go/VERSION", []byte("go1.26.8\ntime 2026-01-01T00:00:00Z\n"), 0o644)
		self, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		add("rootfs/go/bin/selftest", self, 0o755)
		add("rootfs/go/bin/script", []byte("#!/bin/sh\n"), 0o755)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeACI(t *testing.T, data []byte) string {
	p := filepath.Join(t.TempDir(), "x.aci")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGolden(t *testing.T) {
	file := writeACI(t, fixtureRootfs(t, false))
	b, n, err := ForACI(context.Background(), file, 1700000000, true)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d packages, want 4 (the installed ones)", n)
	}
	gp := filepath.Join("testdata", "base.spdx.json")
	testutil.Golden(t, gp, b)
	again, _, err := ForACI(context.Background(), file, 1700000000, true)
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("second run differs (err %v)", err)
	}
	// The document is valid JSON with the SPDX 2.3 header.
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil || doc["spdxVersion"] != "SPDX-2.3" {
		t.Errorf("not an SPDX 2.3 JSON document: %v %v", err, doc["spdxVersion"])
	}
}

func TestPackages(t *testing.T) {
	inv, err := Scan(context.Background(), bytes.NewReader(fixtureRootfs(t, true)), "rootfs/")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Package{}
	for _, p := range inv.Packages {
		byName[p.Kind+":"+p.Name] = p
	}
	tests := []struct {
		key  string
		want func(p Package) bool
		why  string
	}{
		{"deb:libc6", func(p Package) bool {
			return p.Source == "glibc" && p.SourceVersion == "2.36-9+deb12u4" && reflect.DeepEqual(p.Licenses, []string{"LGPL-2.1+", "GPL-2+"})
		}, "source from Source:, licenses from the Files paragraphs"},
		{"deb:libstdc++6", func(p Package) bool {
			return p.Source == "gcc-12" && p.SourceVersion == "12.2.0-14" && p.Licenses == nil
		}, "source version in parentheses; no copyright file"},
		{"deb:perl-base", func(p Package) bool { return len(p.Licenses) == 2 }, "copyright through the doc directory symlink"},
		{"deb:zlib1g", func(p Package) bool { return p.Licenses == nil && p.Version == "1:1.2.13.dfsg-1" }, "free-form copyright declares nothing"},
		{"golang:go", func(p Package) bool { return p.Version == "1.26.8" }, "toolchain VERSION"},
		{"go-binary:", func(p Package) bool { return false }, ""},
	}
	for _, tt := range tests {
		if tt.key == "go-binary:" {
			continue
		}
		p, ok := byName[tt.key]
		if !ok {
			t.Errorf("%s missing from %v", tt.key, inv.Packages)
			continue
		}
		if !tt.want(p) {
			t.Errorf("%s = %+v: want %s", tt.key, p, tt.why)
		}
	}
	if _, ok := byName["deb:removed-one"]; ok {
		t.Errorf("a removed package (config-files only) is listed")
	}
	var bins []Package
	for _, p := range inv.Packages {
		if p.Kind == "go-binary" {
			bins = append(bins, p)
		}
	}
	if len(bins) != 1 || bins[0].File != "/go/bin/selftest" || !strings.HasPrefix(bins[0].GoVersion, "go1.") || !strings.HasSuffix(bins[0].Name, "sbom.test") {
		t.Errorf("Go binaries = %+v, want /go/bin/selftest (this test binary) with its build info, and no entry for the script", bins)
	}
	if inv.OSID != "debian" || inv.OSVersionID != "12" {
		t.Errorf("os-release: %q %q", inv.OSID, inv.OSVersionID)
	}
}

func TestSPDXExpression(t *testing.T) {
	tests := []struct {
		in, want string
		refs     []string
	}{
		{"GPL-2+", "GPL-2.0-or-later", nil},
		{"GPL-1+ or Artistic", "GPL-1.0-or-later OR Artistic-1.0-Perl", nil},
		{"LGPL-2.1+ and BSD-3-clause", "LGPL-2.1-or-later AND BSD-3-Clause", nil},
		{"GPL-1+ or Artistic, and BSD-2-clause", "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND BSD-2-Clause", nil},
		{"public-domain", "LicenseRef-public-domain", []string{"LicenseRef-public-domain"}},
		{"GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-with-OpenSSL-exception", []string{"LicenseRef-GPL-2-with-OpenSSL-exception"}},
		{"Expat", "MIT", nil},
	}
	for _, tt := range tests {
		got, refs := SPDXExpression(tt.in)
		if got != tt.want || !reflect.DeepEqual(refs, tt.refs) {
			t.Errorf("SPDXExpression(%q) = %q %v, want %q %v", tt.in, got, refs, tt.want, tt.refs)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notACI := filepath.Join(dir, "x.aci")
	os.WriteFile(notACI, []byte("not an image at all"), 0o644)
	out := filepath.Join(dir, "x.aci.spdx.json")
	if _, err := WriteFile(context.Background(), notACI, out, 0, false); err == nil || !strings.Contains(err.Error(), notACI) {
		t.Errorf("err = %v, want one naming %s", err, notACI)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a failed SBOM left files: %v", ents)
	}
}
