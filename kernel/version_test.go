package kernel

import (
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in       string
		want     string
		mm       string
		mainline bool
		dir      string
		tarball  string
		signer   string
		err      string
	}{
		{in: "6.1.112", want: "6.1.112", mm: "6.1", dir: "v6.x", tarball: "linux-6.1.112.tar.xz", signer: KroahHartman.Fingerprint},
		{in: "6.1", want: "6.1", mm: "6.1", mainline: true, dir: "v6.x", tarball: "linux-6.1.tar.xz", signer: Torvalds.Fingerprint},
		{in: "6.12-rc3", want: "6.12-rc3", mm: "6.12", mainline: true, dir: "v6.x/testing", tarball: "linux-6.12-rc3.tar.xz", signer: Torvalds.Fingerprint},
		{in: "4.16.0", want: "4.16.0", mm: "4.16", mainline: true, dir: "v4.x", tarball: "linux-4.16.0.tar.xz", signer: Torvalds.Fingerprint},
		{in: "10.0.1", want: "10.0.1", mm: "10.0", dir: "v10.x", tarball: "linux-10.0.1.tar.xz", signer: KroahHartman.Fingerprint},
		{in: "", err: "expected MAJOR.MINOR"},
		{in: "6", err: "expected MAJOR.MINOR"},
		{in: "v6.1", err: "expected MAJOR.MINOR"},
		{in: "6.1.1.1", err: "expected MAJOR.MINOR"},
		{in: "6.1-rc0", err: "start at -rc1"},
		{in: "6.1.2-rc1", err: "no patch level"},
		{in: "2.6.32", err: "before 3.0"},
		{in: "6.1;rm -rf", err: "expected MAJOR.MINOR"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.in) {
					t.Fatalf("ParseVersion(%q) error = %v, want one naming the input and containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.String() != tt.want || v.MajorMinor() != tt.mm || v.Mainline() != tt.mainline ||
				v.Dir() != tt.dir || v.Tarball() != tt.tarball || v.Signer().Fingerprint != tt.signer {
				t.Errorf("got %s mm=%s mainline=%v dir=%s tarball=%s signer=%s", v, v.MajorMinor(), v.Mainline(), v.Dir(), v.Tarball(), v.Signer().Fingerprint)
			}
			if v.SignatureName() != strings.TrimSuffix(tt.tarball, ".xz")+".sign" {
				t.Errorf("signature name %s", v.SignatureName())
			}
		})
	}
}

func TestTreeVersion(t *testing.T) {
	tests := []struct{ makefile, want, err string }{
		{"VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\nNAME = Curry Ramen\n", "6.1.192", ""},
		{"VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\n", "6.12-rc3", ""},
		{"VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n", "6.1", ""},
		{"all:\n", "", "expected MAJOR.MINOR"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		testutil.WriteFile(t, dir+"/Makefile", tt.makefile)
		v, err := TreeVersion(dir)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.makefile, err, tt.err)
			}
			continue
		}
		if err != nil || v.String() != tt.want {
			t.Errorf("TreeVersion = %v, %v; want %s", v, err, tt.want)
		}
	}
	if _, err := TreeVersion(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a kernel tree") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestResolveKind(t *testing.T) {
	tests := []struct{ kind, version, local, want, err string }{
		{"auto", "", "", SourceDistro, ""},
		{"", "6.1.112", "", SourceKernelOrg, ""},
		{"auto", "6.1.112", "", SourceKernelOrg, ""},
		{"distro", "6.1.112", "", SourceDistro, ""},
		{"kernelorg", "", "", "", "needs S1B_KERNEL_VERSION"},
		{"local", "", "", "", "needs S1B_KERNEL_LOCAL"},
		{"local", "", "/src/linux", SourceLocal, ""},
		{"git", "", "", "", "expected auto, kernelorg, distro or local"},
	}
	for _, tt := range tests {
		got, err := ResolveKind(tt.kind, tt.version, tt.local)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ResolveKind(%q,%q,%q) error %v, want %q", tt.kind, tt.version, tt.local, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveKind(%q,%q,%q) = %q, %v; want %q", tt.kind, tt.version, tt.local, got, err, tt.want)
		}
	}
}

func TestNewestDistroPackage(t *testing.T) {
	got := newestDistroPackage([]string{"linux-source-5.10", "linux-source-6.1", "linux-source-6.10", "linux-source", "linux-source-6.9 ", "linux-source-6.1-rt"})
	if got != "linux-source-6.10" {
		t.Errorf("got %q, want linux-source-6.10", got)
	}
	if got := newestDistroPackage([]string{"linux-source-6.8.0", "linux-source-6.5.0", "linux-source-6.8"}); got != "linux-source-6.8.0" {
		t.Errorf("got %q, want linux-source-6.8.0", got)
	}
	if got := newestDistroPackage(nil); got != "" {
		t.Errorf("got %q for no packages", got)
	}
}
