// Package sbom writes an SPDX 2.3 JSON software bill of materials for an
// image, read from the image itself in one pass over its ACI:
//
//   - every installed Debian package in /var/lib/dpkg/status: name,
//     version, architecture, source package and version, maintainer (as
//     supplier), a purl, and the licenses Debian declares in the package's
//     machine-readable /usr/share/doc/<pkg>/copyright (DEP-5), mapped to
//     SPDX identifiers where one exists and to LicenseRef-… otherwise;
//   - the Go toolchain in /usr/local/go (its VERSION file);
//   - every Go binary under /usr/local/go/bin, /usr/local/go/pkg/tool,
//     /go/bin and /usr/local/bin, with its main module and module
//     dependencies from the build information the Go linker embeds.
//
// The document is deterministic: packages sorted, the creation time taken
// from SOURCE_DATE_EPOCH (the Unix epoch without one), the namespace
// derived from the image ID. The SPDX object model and JSON writer are
// spdx/tools-golang's.
package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// Version is folded into the inputs of the steps that write SBOMs: bump
// it when a change here changes the documents.
const Version = "1"

// Suffix is appended to an ACI file name for its SBOM: X.aci.spdx.json.
const Suffix = ".spdx.json"

// Package is one component found in an image.
type Package struct {
	// Kind is "deb", "golang" (the toolchain), "go-binary" or "go-module".
	Kind          string
	Name, Version string
	Arch          string
	Source        string // source package (deb)
	SourceVersion string
	Maintainer    string
	// Licenses are the DEP-5 License fields of the package's copyright
	// file, as Debian wrote them.
	Licenses []string
	// File is where a binary or toolchain lives in the image.
	File string
	// GoVersion is the Go release a binary was built with.
	GoVersion string
	// Deps are the module dependencies of a Go binary (path@version).
	Deps []string
}

// Inventory is what Scan found in an image.
type Inventory struct {
	Packages []Package
	// OSID and OSVersionID come from /etc/os-release (for purls).
	OSID, OSVersionID string
}

// maxCopyright bounds the copyright files read.
const maxCopyright = 4 << 20

// maxBinary bounds the Go binaries read for build information.
const maxBinary = 256 << 20

// goBinDirs are the directories searched for Go binaries.
var goBinDirs = []string{"usr/local/go/bin", "usr/local/go/pkg/tool", "go/bin", "usr/local/bin"}

// Scan reads a rootfs tar stream (entry names relative to the root, or
// under prefix, e.g. "rootfs/" for an ACI) and returns its inventory.
func Scan(ctx context.Context, r io.Reader, prefix string) (*Inventory, error) {
	c := newCollector()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if err := c.add(strings.TrimPrefix(name, prefix), hdr, tr); err != nil {
			return nil, err
		}
	}
	return c.inventory()
}

// collector gathers what an inventory is made of from rootfs entries.
type collector struct {
	status, osRelease []byte
	goVersion         string
	copyright         map[string][]byte // package -> copyright file
	docLinks          map[string]string // usr/share/doc/<pkg> -> link target
	bins              []Package
}

func newCollector() *collector {
	return &collector{copyright: map[string][]byte{}, docLinks: map[string]string{}}
}

// add takes one rootfs entry (name relative to the root).
func (c *collector) add(name string, hdr *tar.Header, body io.Reader) error {
	name = strings.TrimSuffix(name, "/")
	var err error
	switch {
	case hdr.Typeflag == tar.TypeSymlink && path.Dir(name) == "usr/share/doc":
		c.docLinks[path.Base(name)] = hdr.Linkname
	case hdr.Typeflag != tar.TypeReg:
	case name == "var/lib/dpkg/status":
		if c.status, err = io.ReadAll(body); err != nil {
			return err
		}
	case name == "usr/lib/os-release" || name == "etc/os-release":
		if c.osRelease, err = io.ReadAll(io.LimitReader(body, 1<<16)); err != nil {
			return err
		}
	case name == "usr/local/go/VERSION":
		b, err := io.ReadAll(io.LimitReader(body, 4096))
		if err != nil {
			return err
		}
		c.goVersion, _, _ = strings.Cut(string(b), "\n")
	case strings.HasPrefix(name, "usr/share/doc/") && path.Base(name) == "copyright" && strings.Count(name, "/") == 4 && hdr.Size <= maxCopyright:
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		c.copyright[path.Base(path.Dir(name))] = b
	case inGoBinDir(name) && hdr.Mode&0o111 != 0 && hdr.Size <= maxBinary:
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, []byte("\x7fELF")) {
			return nil
		}
		bi, err := buildinfo.Read(bytes.NewReader(b))
		if err != nil {
			return nil // not a Go binary
		}
		p := Package{Kind: "go-binary", Name: bi.Path, Version: bi.Main.Version, File: "/" + name, GoVersion: bi.GoVersion}
		if p.Version == "" || p.Version == "(devel)" {
			p.Version = bi.GoVersion
		}
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			p.Deps = append(p.Deps, d.Path+"@"+d.Version)
		}
		c.bins = append(c.bins, p)
	}
	return nil
}

// inventory is what the entries added make.
func (c *collector) inventory() (*Inventory, error) {
	inv := &Inventory{}
	inv.OSID, inv.OSVersionID = parseOSRelease(c.osRelease)
	debs, err := parseStatus(c.status)
	if err != nil {
		return nil, fmt.Errorf("/var/lib/dpkg/status: %w", err)
	}
	for i := range debs {
		b, ok := c.copyright[debs[i].Name]
		if !ok {
			if t, ok2 := c.docLinks[debs[i].Name]; ok2 && !strings.Contains(t, "/") {
				b, ok = c.copyright[t]
			}
		}
		if ok {
			debs[i].Licenses = DEP5Licenses(b)
		}
	}
	inv.Packages = append(inv.Packages, debs...)
	if c.goVersion != "" {
		inv.Packages = append(inv.Packages, Package{Kind: "golang", Name: "go", Version: strings.TrimPrefix(c.goVersion, "go"), File: "/usr/local/go"})
	}
	mods := map[string]bool{}
	for _, b := range c.bins {
		inv.Packages = append(inv.Packages, b)
		for _, d := range b.Deps {
			if !mods[d] {
				mods[d] = true
				p, v, _ := strings.Cut(d, "@")
				inv.Packages = append(inv.Packages, Package{Kind: "go-module", Name: p, Version: v})
			}
		}
	}
	sort.SliceStable(inv.Packages, func(i, j int) bool {
		a, b := inv.Packages[i], inv.Packages[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		return a.File < b.File
	})
	return inv, nil
}

func inGoBinDir(name string) bool {
	for _, d := range goBinDirs {
		if strings.HasPrefix(name, d+"/") && (path.Dir(name) == d || (d == "usr/local/go/pkg/tool" && strings.Count(name[len(d)+1:], "/") == 1)) {
			return true
		}
	}
	return false
}

func parseOSRelease(b []byte) (id, version string) {
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			id = v
		case "VERSION_ID":
			version = v
		}
	}
	return id, version
}

// paragraphs splits RFC 822-style control data (dpkg status, DEP-5) into
// paragraphs of fields; continuation lines are appended with a newline.
func paragraphs(b []byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.TrimSpace(l) == "":
			if len(cur) > 0 {
				out = append(out, cur)
				cur, last = map[string]string{}, ""
			}
		case l[0] == ' ' || l[0] == '\t':
			if last != "" {
				cur[last] += "\n" + strings.TrimSpace(l)
			}
		case l[0] == '#':
		default:
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

var sourceRe = regexp.MustCompile(`^(\S+)(?:\s+\(([^)]+)\))?$`)

// parseStatus returns the installed packages of a dpkg status file.
func parseStatus(b []byte) ([]Package, error) {
	var out []Package
	for _, p := range paragraphs(b) {
		if !strings.HasSuffix(p["status"], " installed") || p["package"] == "" {
			continue
		}
		pk := Package{Kind: "deb", Name: p["package"], Version: p["version"], Arch: p["architecture"], Maintainer: p["maintainer"]}
		pk.Source, pk.SourceVersion = pk.Name, pk.Version
		if s := p["source"]; s != "" {
			m := sourceRe.FindStringSubmatch(s)
			if m == nil {
				return nil, fmt.Errorf("package %s: bad Source field %q", pk.Name, s)
			}
			pk.Source = m[1]
			if m[2] != "" {
				pk.SourceVersion = m[2]
			}
		}
		out = append(out, pk)
	}
	return out, nil
}

// DEP5Licenses returns the distinct License fields' first lines (the
// license names or expressions) of a machine-readable Debian copyright
// file, in order of appearance, or nil when the file is not in DEP-5
// format (Debian declares nothing machine-readable then).
func DEP5Licenses(b []byte) []string {
	ps := paragraphs(b)
	if len(ps) == 0 || !strings.Contains(ps[0]["format"], "copyright-format/1.0") {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range ps {
		_, isFiles := p["files"]
		if !isFiles && len(out) > 0 {
			continue // stand-alone license paragraphs repeat the texts
		}
		l, _, _ := strings.Cut(p["license"], "\n")
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// spdxIDs maps Debian's DEP-5 short names (lower-cased) to SPDX license
// identifiers.
var spdxIDs = map[string]string{
	"gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later",
	"gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later",
	"gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later",
	"lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later",
	"lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later",
	"lgpl-3": "LGPL-3.0-only", "lgpl-3+": "LGPL-3.0-or-later",
	"agpl-3": "AGPL-3.0-only", "agpl-3+": "AGPL-3.0-or-later",
	"gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later",
	"gfdl-1.3": "GFDL-1.3-only", "gfdl-1.3+": "GFDL-1.3-or-later",
	"bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause",
	"expat": "MIT", "mit": "MIT", "isc": "ISC", "zlib": "Zlib", "apache-2.0": "Apache-2.0",
	"mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "cc0-1.0": "CC0-1.0", "cc0": "CC0-1.0",
	"artistic": "Artistic-1.0-Perl", "artistic-2.0": "Artistic-2.0", "psf-2": "PSF-2.0",
	"openssl": "OpenSSL", "curl": "curl", "x11": "X11", "unicode-dfs-2016": "Unicode-DFS-2016",
	"bzip2-1.0.6": "bzip2-1.0.6", "gpl-2.0+": "GPL-2.0-or-later", "gpl-2.0": "GPL-2.0-only",
	"lgpl-2.0+": "LGPL-2.0-or-later", "gpl-3.0+": "GPL-3.0-or-later", "gpl-3.0": "GPL-3.0-only",
	"bsd-3-clause-lbnl": "BSD-3-Clause-LBNL", "ofl-1.1": "OFL-1.1", "sleepycat": "Sleepycat",
}

var refChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// SPDXExpression converts one DEP-5 License field name (e.g. "GPL-2+ or
// Artistic") to an SPDX license expression, and returns the LicenseRef-
// identifiers it had to invent for names SPDX does not list.
func SPDXExpression(dep5 string) (string, []string) {
	var refs []string
	conv := func(term string) string {
		term = strings.TrimSpace(term)
		if id, ok := spdxIDs[strings.ToLower(term)]; ok {
			return id
		}
		ref := "LicenseRef-" + strings.Trim(refChars.ReplaceAllString(term, "-"), "-")
		refs = append(refs, ref)
		return ref
	}
	// DEP-5: "X with Y exception" is one term; "A or B, and C" means
	// (A or B) and C: ", and" binds loosest, then "or", then "and".
	var tops []string
	var multi []int // tops that are OR expressions
	for _, top := range splitWord(dep5, ", and ") {
		var ors []string
		orTerms := splitWord(strings.ReplaceAll(top, ", or ", " or "), " or ")
		for _, or := range orTerms {
			var ands []string
			for _, and := range splitWord(or, " and ") {
				ands = append(ands, conv(and))
			}
			a := strings.Join(ands, " AND ")
			if len(ands) > 1 && len(orTerms) > 1 {
				a = "(" + a + ")"
			}
			ors = append(ors, a)
		}
		tops = append(tops, strings.Join(ors, " OR "))
		if len(ors) > 1 {
			multi = append(multi, len(tops)-1)
		}
	}
	if len(tops) > 1 {
		for _, i := range multi {
			tops[i] = "(" + tops[i] + ")"
		}
	}
	return strings.Join(tops, " AND "), refs
}

func splitWord(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(s, strings.ToUpper(sep), sep), sep) {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

var idChars = regexp.MustCompile(`[^A-Za-z0-9.-]`)

func spdxID(parts ...string) common.ElementID {
	s := strings.Join(parts, "-")
	s = strings.ReplaceAll(s, "+", "plus")
	return common.ElementID(idChars.ReplaceAllString(s, "-"))
}

// Meta describes the image an SBOM is for.
type Meta struct {
	Name, Version string
	ImageID       string
	Epoch         int64
	HasEpoch      bool
}

// Document builds the SPDX document for an inventory.
func Document(meta Meta, inv *Inventory) *v2_3.Document {
	created := time.Unix(0, 0).UTC()
	if meta.HasEpoch {
		created = time.Unix(meta.Epoch, 0).UTC()
	}
	doc := &v2_3.Document{
		SPDXVersion:       v2_3.Version,
		DataLicense:       v2_3.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      meta.Name + ":" + meta.Version,
		DocumentNamespace: "https://rktbuild.invalid/spdx/" + meta.Name + "/" + meta.ImageID,
		CreationInfo: &v2_3.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "rktbuild"}},
			Created:  created.Format(time.RFC3339),
		},
	}
	img := &v2_3.Package{
		PackageName: meta.Name, PackageSPDXIdentifier: "Image", PackageVersion: meta.Version,
		PackageDownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "CONTAINER",
		PackageLicenseConcluded: "NOASSERTION", PackageLicenseDeclared: "NOASSERTION", PackageCopyrightText: "NOASSERTION",
		PackageComment: "appc image ID " + meta.ImageID,
	}
	doc.Packages = append(doc.Packages, img)
	doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Image"), Relationship: "DESCRIBES"})
	refs := map[string]string{}
	ids := map[common.ElementID]bool{}
	for _, p := range inv.Packages {
		sp := &v2_3.Package{
			PackageName: p.Name, PackageVersion: p.Version, PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION", PackageLicenseDeclared: "NOASSERTION", PackageCopyrightText: "NOASSERTION",
		}
		switch p.Kind {
		case "deb":
			sp.PackageSPDXIdentifier = spdxID("deb", p.Name, p.Arch)
			sp.PrimaryPackagePurpose = "LIBRARY"
			sp.PackageSourceInfo = fmt.Sprintf("built from Debian source package %s %s", p.Source, p.SourceVersion)
			if p.Maintainer != "" {
				sp.PackageSupplier = &common.Supplier{SupplierType: "Organization", Supplier: strings.NewReplacer("<", "(", ">", ")").Replace(p.Maintainer)}
			}
			purl := fmt.Sprintf("pkg:deb/%s/%s@%s?arch=%s", nz(inv.OSID, "debian"), p.Name, escapePurl(p.Version), p.Arch)
			if p.Source != p.Name || p.SourceVersion != p.Version {
				purl += "&upstream=" + escapePurl(p.Source+"@"+p.SourceVersion)
			}
			if inv.OSID != "" && inv.OSVersionID != "" {
				purl += "&distro=" + inv.OSID + "-" + inv.OSVersionID
			}
			sp.PackageExternalReferences = []*v2_3.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl}}
			if len(p.Licenses) > 0 {
				var exprs []string
				seen := map[string]bool{}
				for _, l := range p.Licenses {
					e, rs := SPDXExpression(l)
					if strings.Contains(e, " OR ") && len(p.Licenses) > 1 {
						e = "(" + e + ")"
					}
					if !seen[e] { // GPL-3+ and GPL-3.0+ are one license
						seen[e] = true
						exprs = append(exprs, e)
					}
					for _, r := range rs {
						refs[r] = l
					}
				}
				sp.PackageLicenseDeclared = strings.Join(exprs, " AND ")
				sp.PackageLicenseComments = "declared in /usr/share/doc/" + p.Name + "/copyright: " + strings.Join(p.Licenses, "; ")
			}
		case "golang":
			sp.PackageSPDXIdentifier = spdxID("golang-toolchain")
			sp.PrimaryPackagePurpose = "APPLICATION"
			sp.PackageComment = "Go toolchain at " + p.File
			sp.PackageExternalReferences = []*v2_3.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: "pkg:golang/go@" + escapePurl(p.Version)}}
		case "go-binary":
			sp.PackageSPDXIdentifier = spdxID("gobin", p.File)
			sp.PrimaryPackagePurpose = "APPLICATION"
			sp.PackageFileName = p.File
			sp.PackageComment = "Go binary " + p.File + " built with " + p.GoVersion
		case "go-module":
			sp.PackageSPDXIdentifier = spdxID("gomod", p.Name, p.Version)
			sp.PrimaryPackagePurpose = "LIBRARY"
			sp.PackageExternalReferences = []*v2_3.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: "pkg:golang/" + p.Name + "@" + escapePurl(p.Version)}}
		}
		if ids[sp.PackageSPDXIdentifier] {
			continue // the same package listed twice (e.g. Multi-Arch: same)
		}
		ids[sp.PackageSPDXIdentifier] = true
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
			RefA: common.MakeDocElementID("", "Image"), RefB: common.MakeDocElementID("", string(sp.PackageSPDXIdentifier)), Relationship: "CONTAINS"})
	}
	for _, p := range inv.Packages {
		if p.Kind != "go-binary" {
			continue
		}
		for _, d := range p.Deps {
			mp, mv, _ := strings.Cut(d, "@")
			doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
				RefA: common.MakeDocElementID("", string(spdxID("gobin", p.File))), RefB: common.MakeDocElementID("", string(spdxID("gomod", mp, mv))), Relationship: "DEPENDS_ON"})
		}
	}
	var refNames []string
	for r := range refs {
		refNames = append(refNames, r)
	}
	sort.Strings(refNames)
	for _, r := range refNames {
		doc.OtherLicenses = append(doc.OtherLicenses, &v2_3.OtherLicense{
			LicenseIdentifier: r, LicenseName: refs[r],
			ExtractedText: "A license Debian names \"" + strings.TrimPrefix(r, "LicenseRef-") + "\" in machine-readable copyright files; its text is in the package's /usr/share/doc/<package>/copyright.",
		})
	}
	return doc
}

func nz(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func escapePurl(s string) string {
	return strings.NewReplacer("%", "%25", "+", "%2B", ":", "%3A", "@", "%40", "?", "%3F", "#", "%23", "&", "%26", " ", "%20").Replace(s)
}

// Marshal writes doc as indented JSON.
func Marshal(doc *v2_3.Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent(" ")); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ForACI scans the ACI file and returns its SPDX document (JSON) and the
// number of packages it lists (the image itself not counted).
func ForACI(ctx context.Context, file string, epoch int64, hasEpoch bool) ([]byte, int, error) {
	c := newCollector()
	im, err := aci.Walk(ctx, file, aci.Walker{Entry: c.add})
	if err != nil {
		return nil, 0, fmt.Errorf("sbom: %w", err)
	}
	inv, err := c.inventory()
	if err != nil {
		return nil, 0, fmt.Errorf("sbom: %s: %w", file, err)
	}
	m := im.Manifest
	version, _ := m.Labels.Get("version")
	doc := Document(Meta{Name: m.Name.String(), Version: version, ImageID: im.ID, Epoch: epoch, HasEpoch: hasEpoch}, inv)
	b, err := Marshal(doc)
	if err != nil {
		return nil, 0, fmt.Errorf("sbom: %s: %w", file, err)
	}
	return b, len(doc.Packages) - 1, nil
}

// WriteFile writes the SBOM of the ACI file to out atomically (temp file
// in out's directory, then rename) and returns the package count.
func WriteFile(ctx context.Context, file, out string, epoch int64, hasEpoch bool) (int, error) {
	b, n, err := ForACI(ctx, file, epoch, hasEpoch)
	if err != nil {
		return 0, err
	}
	return n, writeAtomic(out, b)
}

func writeAtomic(out string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sbom: writing %s: %w", out, err)
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	return nil
}
