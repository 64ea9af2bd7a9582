package static

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one apt source entry: a repository URI, a suite and its
// components, with the options that matter for verification.
type Source struct {
	Types      []string // deb, deb-src
	URIs       []string
	Suites     []string
	Components []string
	// SignedBy is the keyring (path or embedded key, as apt writes it) the
	// entry's Release file must be signed with; empty means apt's trusted
	// keyrings.
	SignedBy string
	// CheckValidUntil is the Check-Valid-Until value ("no" for snapshot
	// mirrors); empty means apt's default.
	CheckValidUntil string
	// File and Line say where the entry came from.
	File string
	Line int
}

// HostSources reads the machine's apt sources: the one-line format in
// sourcesList and *.list in partsDir, and the deb822 format in *.sources in
// partsDir. Other files in partsDir (e.g. *.disabled, *.save) are ignored,
// as apt ignores them. Missing files are not an error.
func HostSources(sourcesList, partsDir string) ([]Source, error) {
	var out []Source
	if data, err := os.ReadFile(sourcesList); err == nil {
		s, err := ParseList(data, sourcesList)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	entries, err := os.ReadDir(partsDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(partsDir, n)
		var parse func([]byte, string) ([]Source, error)
		switch {
		case strings.HasSuffix(n, ".list"):
			parse = ParseList
		case strings.HasSuffix(n, ".sources"):
			parse = ParseDeb822
		default:
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s, err := parse(data, p)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// ParseList parses apt's one-line format:
// `deb [opt=val ...] URI SUITE [COMPONENT...]`.
func ParseList(data []byte, file string) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 || strings.Contains(line, "cdrom:") {
			// Installation media entries ("cdrom:[Debian GNU/Linux ...]/")
			// carry no source packages.
			continue
		}
		s := Source{Types: []string{f[0]}, File: file, Line: n}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			var opts []string
			for len(f) > 0 {
				o := f[0]
				f = f[1:]
				end := strings.HasSuffix(o, "]")
				o = strings.TrimSuffix(strings.TrimPrefix(o, "["), "]")
				if o != "" {
					opts = append(opts, o)
				}
				if end {
					break
				}
			}
			for _, o := range opts {
				k, v, _ := strings.Cut(o, "=")
				switch strings.ToLower(k) {
				case "signed-by":
					s.SignedBy = v
				case "check-valid-until":
					s.CheckValidUntil = v
				}
			}
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: malformed apt source line %q: expected TYPE URI SUITE [COMPONENT...]", file, n, sc.Text())
		}
		s.URIs = []string{f[0]}
		s.Suites = []string{f[1]}
		s.Components = f[2:]
		out = append(out, s)
	}
	return out, sc.Err()
}

// ParseDeb822 parses apt's deb822 format (*.sources): stanzas separated by
// blank lines; a field continues on lines that start with white space.
// Stanzas with `Enabled: no` are skipped.
func ParseDeb822(data []byte, file string) ([]Source, error) {
	var out []Source
	fields := map[string]string{}
	start := 0
	flush := func() error {
		if len(fields) == 0 {
			return nil
		}
		defer func() { fields = map[string]string{} }()
		if strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no") {
			return nil
		}
		s := Source{
			Types:           strings.Fields(fields["types"]),
			URIs:            strings.Fields(fields["uris"]),
			Suites:          strings.Fields(fields["suites"]),
			Components:      strings.Fields(fields["components"]),
			SignedBy:        strings.TrimSpace(fields["signed-by"]),
			CheckValidUntil: strings.TrimSpace(fields["check-valid-until"]),
			File:            file,
			Line:            start,
		}
		if len(s.Types) == 0 || len(s.URIs) == 0 || len(s.Suites) == 0 {
			return fmt.Errorf("%s:%d: apt source stanza needs Types, URIs and Suites", file, start)
		}
		out = append(out, s)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	last := ""
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			last = ""
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("%s:%d: continuation line without a field", file, n)
			}
			fields[last] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: malformed line %q: expected Field: value", file, n, line)
		}
		if len(fields) == 0 {
			start = n
		}
		last = strings.ToLower(strings.TrimSpace(k))
		fields[last] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// DeriveSources returns deb-src entries for release from the host's
// entries. A host suite that is the host's codename or starts with it
// followed by '-' or '/' (bookworm, bookworm-updates, bookworm-security)
// becomes the same suite of release (trixie, trixie-updates, ...); a suite
// that already names release is kept; other suites (stable, third-party
// "nodistro" repositories) are left out. Options that weaken verification
// (trusted=yes and the like) are never carried over. The result is
// deduplicated and in host order.
func DeriveSources(host []Source, hostCodename, release string) ([]Source, error) {
	if release == "" {
		return nil, fmt.Errorf("no release given: set NSPAWN_RELEASE (or ROOTFS_SUITE) to a distribution release such as bookworm")
	}
	var out []Source
	seen := map[string]bool{}
	var suites []string
	for _, h := range host {
		if !hasType(h.Types, "deb") && !hasType(h.Types, "deb-src") {
			continue
		}
		for _, suite := range h.Suites {
			suites = append(suites, suite)
			mapped, ok := mapSuite(suite, hostCodename, release)
			if !ok {
				continue
			}
			for _, uri := range h.URIs {
				key := uri + " " + mapped
				if seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, Source{
					Types:           []string{"deb-src"},
					URIs:            []string{uri},
					Suites:          []string{mapped},
					Components:      h.Components,
					SignedBy:        h.SignedBy,
					CheckValidUntil: h.CheckValidUntil,
					File:            h.File,
					Line:            h.Line,
				})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no apt source for release %q can be derived from the host's apt sources (host release %q, suites %s): add a deb line for %s to /etc/apt/sources.list.d/ or set NSPAWN_RELEASE to the host's release",
			release, hostCodename, strings.Join(uniq(suites), " "), release)
	}
	return out, nil
}

func mapSuite(suite, hostCodename, release string) (string, bool) {
	for _, base := range []string{release, hostCodename} {
		if base == "" {
			continue
		}
		if suite == base {
			return release, true
		}
		if rest, ok := strings.CutPrefix(suite, base); ok && (rest[0] == '-' || rest[0] == '/') {
			return release + rest, true
		}
	}
	return "", false
}

func hasType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// FormatDeb822 writes entries in apt's deb822 format.
func FormatDeb822(src []Source) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by rktbuild (nspawn/static) from the host's apt sources; private to this build.\n")
	for i, s := range src {
		if i > 0 {
			b.WriteString("\n")
		}
		if s.File != "" {
			fmt.Fprintf(&b, "# from %s:%d\n", s.File, s.Line)
		}
		fmt.Fprintf(&b, "Types: %s\n", strings.Join(s.Types, " "))
		fmt.Fprintf(&b, "URIs: %s\n", strings.Join(s.URIs, " "))
		fmt.Fprintf(&b, "Suites: %s\n", strings.Join(s.Suites, " "))
		if len(s.Components) > 0 {
			fmt.Fprintf(&b, "Components: %s\n", strings.Join(s.Components, " "))
		}
		if s.SignedBy != "" {
			fmt.Fprintf(&b, "Signed-By: %s\n", s.SignedBy)
		}
		if s.CheckValidUntil != "" {
			fmt.Fprintf(&b, "Check-Valid-Until: %s\n", s.CheckValidUntil)
		}
	}
	return b.Bytes()
}

// HostCodename reads VERSION_CODENAME from an os-release file.
func HostCodename(osRelease string) (string, error) {
	data, err := os.ReadFile(osRelease)
	if err != nil {
		return "", fmt.Errorf("reading the host's release name: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`), nil
		}
	}
	return "", nil
}
