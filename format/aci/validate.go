package aci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/appc/spec/aci"
	"github.com/appc/spec/schema"
)

// checker enforces the archive rules shared by Validate and Extract: only
// "manifest" and "rootfs/..." entries, relative names without "..", no
// duplicates, an explicit rootfs directory, and no entry, hardlink or
// symlink that resolves outside the rootfs.
type checker struct {
	seen     map[string]byte // clean name -> typeflag
	symlinks map[string]bool
	manifest []byte
	rootfs   bool
}

func newChecker() *checker {
	return &checker{seen: map[string]byte{}, symlinks: map[string]bool{}}
}

// cleanName checks a raw archive path and returns it cleaned.
func cleanName(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(raw, "/") {
		return "", errors.New("absolute path")
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", errors.New(`path contains ".."`)
		}
	}
	if strings.ContainsRune(raw, 0) {
		return "", errors.New("NUL byte in name")
	}
	return path.Clean(raw), nil
}

// throughSymlink returns the first ancestor of name that is a symlink in
// the archive.
func (c *checker) throughSymlink(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' && c.symlinks[name[:i]] {
			return name[:i]
		}
	}
	return ""
}

func inRootfs(name string) bool { return strings.HasPrefix(name, "rootfs/") }

// check validates one header and returns its clean name. The error names
// the entry.
func (c *checker) check(hdr *tar.Header) (string, error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return "", fmt.Errorf("entry %q: %v", hdr.Name, err)
	}
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("entry %q: %s", hdr.Name, fmt.Sprintf(format, args...))
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return bad("the archive root must be a directory")
		}
		return name, nil
	}
	if _, dup := c.seen[name]; dup {
		return bad("duplicate entry")
	}
	switch {
	case name == aci.ManifestFile:
		if hdr.Typeflag != tar.TypeReg {
			return bad("manifest must be a regular file")
		}
	case name == aci.RootfsDir:
		if hdr.Typeflag != tar.TypeDir {
			return bad("rootfs must be a directory")
		}
		c.rootfs = true
	case inRootfs(name):
	default:
		return bad("not under rootfs/ (an ACI holds only manifest and rootfs/)")
	}
	if s := c.throughSymlink(name); s != "" {
		return bad("its parent %q is a symlink; writing through it could escape the rootfs", s)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return bad("symlink with an empty target")
		}
		if !path.IsAbs(hdr.Linkname) {
			t := path.Join(path.Dir(name), hdr.Linkname)
			if t != aci.RootfsDir && !inRootfs(t) {
				return bad("symlink target %q escapes the rootfs", hdr.Linkname)
			}
		}
		c.symlinks[name] = true
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return bad("hardlink target %q: %v", hdr.Linkname, err)
		}
		if !inRootfs(target) {
			return bad("hardlink target %q is outside the rootfs", hdr.Linkname)
		}
		if s := c.throughSymlink(target); s != "" {
			return bad("hardlink target %q goes through the symlink %q", hdr.Linkname, s)
		}
		typ, ok := c.seen[target]
		if !ok {
			return bad("hardlink target %q is not an earlier entry", hdr.Linkname)
		}
		if typ == tar.TypeDir {
			return bad("hardlink target %q is a directory", hdr.Linkname)
		}
	default:
		return bad("unsupported entry type %q", string(rune(hdr.Typeflag)))
	}
	c.seen[name] = hdr.Typeflag
	return name, nil
}

// finish checks what must hold once every entry was seen.
func (c *checker) finish() error {
	if c.manifest == nil {
		return errors.New("no manifest entry")
	}
	if !c.rootfs {
		return errors.New("no explicit rootfs directory entry")
	}
	return nil
}

// Validate checks the ACI file: its name ends in .aci; appc/spec's archive
// and manifest validation accept it; and our own rules hold (exactly
// manifest and rootfs/ at the top, an explicit rootfs directory entry, no
// duplicates, no absolute or ".." names, no hardlink or symlink escaping
// the rootfs, a manifest that passes ValidateManifest).
func Validate(file string) error {
	if !strings.HasSuffix(file, schema.ACIExtension) {
		return fmt.Errorf("%s: an ACI file name must end in %s", file, schema.ACIExtension)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := validateOwn(f); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	rc, err := openTar(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer rc.Close()
	if err := aci.ValidateArchive(rc.tr); err != nil {
		return fmt.Errorf("%s: appc validation: %w", file, err)
	}
	return nil
}

func validateOwn(f io.ReadSeeker) error {
	rc, err := openTar(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, _, err = scanArchive(rc.tr)
	return err
}

// scanArchive applies the archive rules to every entry of tr and returns the
// manifest (checked with ParseManifest) and the number of entries.
func scanArchive(tr *tar.Reader) (manifest []byte, entries int, err error) {
	c := newChecker()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, entries, fmt.Errorf("reading tar: %w", err)
		}
		entries++
		name, err := c.check(hdr)
		if err != nil {
			return nil, entries, err
		}
		if name == aci.ManifestFile {
			b, err := readAllLimited(tr, maxManifest)
			if err != nil {
				return nil, entries, fmt.Errorf("reading manifest: %w", err)
			}
			if _, err := ParseManifest("manifest", b); err != nil {
				return nil, entries, err
			}
			c.manifest = b
		}
	}
	return c.manifest, entries, c.finish()
}

// CheckResult is what Check found in an ACI stream.
type CheckResult struct {
	// ID is "sha512-" + hex sha512 of the uncompressed tar.
	ID string
	// Manifest holds the manifest entry's bytes (schema-checked).
	Manifest []byte
	// Entries counts the tar entries.
	Entries int
}

// Check reads a whole ACI (gzip, bzip2, xz or plain tar) from r in one
// pass, so it can run while a download is still arriving: it applies the
// same archive rules as Validate and Extract (no escapes through names,
// symlinks or hardlinks, only manifest and rootfs/, no duplicates, an
// explicit rootfs), checks the manifest against the schema, and computes
// the image ID over every byte of the uncompressed tar. appc's own
// ValidateArchive needs a second pass and is left to Validate.
func Check(r io.Reader) (CheckResult, error) {
	var res CheckResult
	raw, closer, err := decompressStream(r)
	if err != nil {
		return res, err
	}
	if closer != nil {
		defer closer()
	}
	// Decompression, sha512 and the tar scan run pipelined on separate
	// goroutines (cores).
	p := newHashPipeline(raw)
	defer p.Close()
	res.Manifest, res.Entries, err = scanArchive(tar.NewReader(p))
	if err != nil {
		return res, err
	}
	sum, err := p.Sum()
	if err != nil {
		return res, fmt.Errorf("reading the image: %w", err)
	}
	res.ID = formatID(sum)
	return res, nil
}
