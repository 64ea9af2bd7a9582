package kernel

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/deb"
	"github.com/rktbuild/rktbuild/step"
)

// SourceRecord says which kernel source a build used, for the stage1
// manifest's annotations: a distribution package (name, version) or a
// tarball (URL or file name), with the SHA-256 of the tarball.
type SourceRecord struct {
	Kind    string // kernelorg, distro or local
	Package string // distribution package name (distro)
	Version string // distribution package version (distro)
	URL     string // download URL (kernelorg) or file name (local)
	SHA256  string // of the tarball; empty for a local directory
}

// Epoch is a derived SOURCE_DATE_EPOCH and what it was taken from.
type Epoch struct {
	Unix int64
	From string
}

// packageChangelog reads the host's changelog of pkg: its version and
// the date of its newest entry.
func packageChangelog(pkg string) (string, time.Time, string, error) {
	return deb.PackageChangelog("/", pkg)
}

// tarballDate returns the mtime of a tarball's first entry (kernel.org and
// git-archive tarballs stamp every entry with the release commit's time).
// tar reads only as far as the first entry.
func tarballDate(ctx context.Context, path string) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tar", "--list", "--verbose", "--full-time", "--utc", "--file", path)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return time.Time{}, err
	}
	if err := cmd.Start(); err != nil {
		return time.Time{}, fmt.Errorf("tar --list %s: %w", path, err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil && line == "" {
		return time.Time{}, fmt.Errorf("tar --list %s: no entries", path)
	}
	return parseTarListDate(line)
}

var tarListDateRE = regexp.MustCompile(`\s(\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?)\s`)

// parseTarListDate reads the date of a `tar -tv --full-time --utc` line.
func parseTarListDate(line string) (time.Time, error) {
	m := tarListDateRE.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, fmt.Errorf("no date in tar listing line %q", strings.TrimSpace(line))
	}
	layout := "2006-01-02 15:04:05"
	if len(m[1]) == len("2006-01-02 15:04") {
		layout = "2006-01-02 15:04"
	}
	return time.ParseInLocation(layout, m[1], time.UTC)
}

// deriveEpoch picks SOURCE_DATE_EPOCH for a kernel build with none set:
// the distribution package's changelog date, else the tarball's release
// date, else the tree's Makefile mtime.
func deriveEpoch(ctx context.Context, rec SourceRecord, input string) (Epoch, error) {
	if rec.Kind == SourceDistro {
		_, t, p, err := packageChangelog(rec.Package)
		if err == nil {
			return Epoch{t.Unix(), "the changelog date of " + rec.Package + " " + rec.Version + " (" + p + ")"}, nil
		}
		step.Summaryf(ctx, "SOURCE_DATE_EPOCH: %v; using the tarball's date instead", err)
	}
	fi, err := os.Stat(input)
	if err != nil {
		return Epoch{}, err
	}
	if fi.IsDir() {
		mf, err := os.Stat(filepath.Join(input, "Makefile"))
		if err != nil {
			return Epoch{}, fmt.Errorf("deriving SOURCE_DATE_EPOCH from %s: %w (set SOURCE_DATE_EPOCH)", input, err)
		}
		return Epoch{mf.ModTime().Unix(), "the mtime of " + filepath.Join(input, "Makefile")}, nil
	}
	t, err := tarballDate(ctx, input)
	if err != nil {
		return Epoch{}, fmt.Errorf("deriving SOURCE_DATE_EPOCH from %s: %w (set SOURCE_DATE_EPOCH)", input, err)
	}
	return Epoch{t.Unix(), "the release date of " + filepath.Base(input) + " (its first entry's mtime)"}, nil
}

// packageVersion returns an installed package's version: from its
// changelog (no process to start), else from dpkg.
func packageVersion(ctx context.Context, pkg string) (string, error) {
	if v, _, _, err := packageChangelog(pkg); err == nil && v != "" {
		return v, nil
	}
	out, err := exec.CommandContext(ctx, "dpkg-query", "--show", "--showformat=${Version}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-query --show %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}
