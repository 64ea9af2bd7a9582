package static

import (
	"context"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// Apt is a private apt configuration: the host's apt.conf settings (proxies
// and the like) stay in effect, but the source list, package lists, cache
// and preferences live under Dir, so the host's apt setup is never read for
// sources nor modified.
type Apt struct {
	Dir string
}

func (a Apt) sourcesFile() string {
	return filepath.Join(a.Dir, "etc", "sources.list.d", "rktbuild.sources")
}

// Args are the apt options that point apt at the private configuration and
// keep verification on: Release files must be signed, and sources must
// match the checksums of the signed indices.
func (a Apt) Args() []string {
	d := a.Dir
	return []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(d, "etc", "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(d, "etc", "sources.list.d"),
		"-o", "Dir::Etc::Preferences=" + filepath.Join(d, "etc", "preferences"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(d, "etc", "preferences.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(d, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(d, "cache"),
		"-o", "APT::Get::AllowUnauthenticated=false",
		"-o", "Acquire::AllowInsecureRepositories=false",
		"-o", "Acquire::AllowDowngradeToInsecureRepositories=false",
	}
}

// Setup writes the private configuration with the given deb-src entries.
func (a Apt) Setup(src []Source) error {
	for _, d := range []string{"etc/sources.list.d", "etc/preferences.d", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.Dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"etc/sources.list", "etc/preferences"} {
		if err := fsutil.WriteFileBytes(filepath.Join(a.Dir, f), nil, 0o644); err != nil {
			return err
		}
	}
	return fsutil.WriteFileBytes(a.sourcesFile(), FormatDeb822(src), 0o644)
}

// Update downloads the signed source indices.
func (a Apt) Update(ctx context.Context, release string) error {
	args := append(a.Args(), "update")
	if err := (step.Cmd{}).Run(ctx, "apt-get", args...); err != nil {
		return fmt.Errorf("fetching the source indices of release %q with the apt sources in %s (derived from the host's): %w\n  fix: set NSPAWN_RELEASE to a release the host's mirrors carry", release, a.sourcesFile(), err)
	}
	return nil
}

var dscRe = regexp.MustCompile(`^'[^']*' (([a-z0-9][a-z0-9.+-]*)_([^ ]+)\.dsc) `)

// SourceVersion returns the version of source package pkg that `apt-get
// source` would fetch, and the .dsc file name.
func (a Apt) SourceVersion(ctx context.Context, pkg, release string) (version, dsc string, err error) {
	args := append(a.Args(), "source", "--only-source", "--print-uris", pkg)
	var out strings.Builder
	err = step.Cmd{Stdout: &out}.Run(ctx, "apt-get", args...)
	if err != nil {
		var ce *step.CmdError
		if errors.As(err, &ce) && strings.Contains(strings.Join(ce.Tail, "\n"), "Unable to find a source package") {
			return "", "", fmt.Errorf("no source package %s for release %q in %s: check NSPAWN_RELEASE and that the host's mirror carries that release's sources", pkg, release, a.sourcesFile())
		}
		return "", "", fmt.Errorf("looking up source package %s: %w", pkg, err)
	}
	return parsePrintURIs(out.String(), pkg, release)
}

func parsePrintURIs(out, pkg, release string) (version, dsc string, err error) {
	for _, line := range strings.Split(out, "\n") {
		m := dscRe.FindStringSubmatch(line)
		if m != nil && m[2] == pkg {
			return m[3], m[1], nil
		}
	}
	return "", "", fmt.Errorf("no source package %s for release %q: apt-get source printed no .dsc for it", pkg, release)
}

// Fetch downloads and unpacks pkg=version into dir with `apt-get source`,
// which checks the .dsc against the signed index and every file against the
// .dsc checksums before dpkg-source unpacks it with Debian's patches. It
// returns the unpacked tree.
func (a Apt) Fetch(ctx context.Context, pkg, version, dir string) (string, error) {
	args := append(a.Args(), "source", "--only-source", pkg+"="+version)
	if err := (step.Cmd{Dir: dir}).Run(ctx, "apt-get", args...); err != nil {
		return "", fmt.Errorf("fetching source package %s %s: %w", pkg, version, err)
	}
	return UnpackedDir(dir, pkg, version)
}

// UnpackedDir finds the tree dpkg-source unpacked pkg=version into:
// <pkg>-<upstream version>.
func UnpackedDir(dir, pkg, version string) (string, error) {
	upstream := version
	if i := strings.IndexByte(upstream, ':'); i >= 0 {
		upstream = upstream[i+1:]
	}
	if i := strings.LastIndexByte(upstream, '-'); i >= 0 {
		upstream = upstream[:i]
	}
	p := filepath.Join(dir, pkg+"-"+upstream)
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("source package %s %s: expected the unpacked tree at %s", pkg, version, p)
	}
	return p, nil
}
