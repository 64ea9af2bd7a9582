// Package deb reads Debian package metadata that builds derive
// reproducible timestamps from: changelog entries, and the newest
// package date in a root file system.
package deb

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var (
	// changelogHeadRE matches a changelog entry's first line.
	changelogHeadRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]* \(([^)\s]+)\) `)
	// changelogDateRE matches a changelog trailer line.
	changelogDateRE = regexp.MustCompile(`^ -- .*<[^>]*>  (.+)$`)
)

// ParseChangelog returns the version and date of the newest entry of a
// Debian changelog read from r (its first heading and trailer lines).
func ParseChangelog(r io.Reader) (version string, date time.Time, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if version == "" {
			if m := changelogHeadRE.FindStringSubmatch(line); m != nil {
				version = m[1]
			}
			continue
		}
		m := changelogDateRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		t, err := time.Parse(time.RFC1123Z, strings.TrimSpace(m[1]))
		if err != nil {
			return "", time.Time{}, fmt.Errorf("changelog trailer date %q: %w", m[1], err)
		}
		return version, t, nil
	}
	if err := sc.Err(); err != nil {
		return "", time.Time{}, err
	}
	if version == "" {
		return "", time.Time{}, fmt.Errorf("no entry heading (`source (version) dist; urgency=…`) found")
	}
	return "", time.Time{}, fmt.Errorf("no trailer line (` -- name <email>  date`) found")
}

// PackageChangelog reads root/usr/share/doc/<pkg>/changelog.Debian.gz
// (root "/" for the host): the package's version and newest entry's date.
// A symlinked changelog is not followed (it could leave root).
func PackageChangelog(root, pkg string) (string, time.Time, string, error) {
	p := filepath.Join(root, "usr", "share", "doc", pkg, "changelog.Debian.gz")
	fi, err := os.Lstat(p)
	if err != nil {
		return "", time.Time{}, p, err
	}
	if !fi.Mode().IsRegular() {
		return "", time.Time{}, p, fmt.Errorf("%s is not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", time.Time{}, p, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", time.Time{}, p, fmt.Errorf("%s: %w", p, err)
	}
	v, t, err := ParseChangelog(zr)
	if err != nil {
		return "", time.Time{}, p, fmt.Errorf("%s: %w", p, err)
	}
	return v, t, p, nil
}

// NewestPackageDate returns the newest changelog date of the packages
// installed in root and the package it belongs to: a timestamp that
// changes only when the package set does.
func NewestPackageDate(root string) (time.Time, string, error) {
	dirs, err := os.ReadDir(filepath.Join(root, "usr", "share", "doc"))
	if err != nil {
		return time.Time{}, "", fmt.Errorf("newest package date in %s: %w", root, err)
	}
	var newest time.Time
	var which string
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		_, t, _, err := PackageChangelog(root, d.Name())
		if err != nil {
			continue
		}
		if t.After(newest) {
			newest, which = t, d.Name()
		}
	}
	if which == "" {
		return time.Time{}, "", fmt.Errorf("newest package date in %s: no package has a readable changelog.Debian.gz", root)
	}
	return newest, which, nil
}
