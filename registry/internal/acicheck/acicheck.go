// Package acicheck checks an ACI in one streaming pass: it decompresses it
// (gzip, bzip2, xz or plain tar), computes the image ID over every byte of
// the uncompressed tar, refuses entries that could escape the image on
// extraction (absolute names, "..", links pointing out of rootfs/), entries
// other than manifest and rootfs/..., duplicates and a missing manifest or
// rootfs directory, and returns the raw manifest. It reads from an
// io.Reader, so it can run while a download is still arriving.
package acicheck

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Result is what a check found.
type Result struct {
	// ID is "sha512-" + hex sha512 of the uncompressed tar.
	ID string
	// Manifest holds the manifest entry's bytes.
	Manifest []byte
	// Entries counts the tar entries.
	Entries int
}

const maxManifest = 16 << 20

// Decompress returns the uncompressed stream of r by its magic bytes.
func Decompress(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("reading the image: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(true)
		return zr, zr.Close, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), func() error { return nil }, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		if _, err := exec.LookPath("xz"); err != nil {
			return nil, nil, errors.New("xz-compressed image needs the xz program: apt-get install xz-utils")
		}
		cmd := exec.Command("xz", "--decompress", "--stdout")
		cmd.Stdin = br
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		return out, func() error { _ = cmd.Process.Kill(); _ = cmd.Wait(); return nil }, nil
	}
	return br, func() error { return nil }, nil
}

// Check reads the whole (compressed) ACI from r and checks it.
func Check(r io.Reader) (Result, error) {
	var res Result
	raw, closer, err := Decompress(r)
	if err != nil {
		return res, err
	}
	defer closer()
	h := sha512.New()
	tr := tar.NewReader(io.TeeReader(raw, h))
	seen := map[string]byte{} // clean name -> type flag
	symlinks := map[string]bool{}
	through := func(name string) string {
		for i := 0; i < len(name); i++ {
			if name[i] == '/' && symlinks[name[:i]] {
				return name[:i]
			}
		}
		return ""
	}
	hasRootfs := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("not a valid tar: %w", err)
		}
		res.Entries++
		name, err := entryName(hdr.Name)
		if err != nil {
			return res, err
		}
		if _, dup := seen[name]; dup {
			return res, fmt.Errorf("tar entry %q appears twice", hdr.Name)
		}
		if s := through(name); s != "" {
			return res, fmt.Errorf("tar entry %q escapes the rootfs: its parent %q is a symlink", hdr.Name, s)
		}
		switch {
		case name == "manifest":
			if hdr.Typeflag != tar.TypeReg {
				return res, errors.New("the manifest entry is not a regular file")
			}
			if hdr.Size > maxManifest {
				return res, fmt.Errorf("the manifest is %d bytes, larger than %d", hdr.Size, maxManifest)
			}
			if res.Manifest, err = io.ReadAll(tr); err != nil {
				return res, fmt.Errorf("reading the manifest: %w", err)
			}
		case name == "rootfs":
			if hdr.Typeflag != tar.TypeDir {
				return res, errors.New("the rootfs entry is not a directory")
			}
			hasRootfs = true
		default:
			// a rootfs/ entry
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		case tar.TypeSymlink:
			if hdr.Linkname == "" {
				return res, fmt.Errorf("tar entry %q is a symlink with an empty target", hdr.Name)
			}
			if !path.IsAbs(hdr.Linkname) {
				t := path.Join(path.Dir(name), hdr.Linkname)
				if t != "rootfs" && !strings.HasPrefix(t, "rootfs/") {
					return res, fmt.Errorf("tar entry %q is a symlink to %q, which escapes the rootfs", hdr.Name, hdr.Linkname)
				}
			}
			symlinks[name] = true
		case tar.TypeLink:
			target, err := entryName(hdr.Linkname)
			if err != nil || !strings.HasPrefix(target, "rootfs/") {
				return res, fmt.Errorf("tar entry %q is a hard link to %q, outside rootfs/", hdr.Name, hdr.Linkname)
			}
			if s := through(target); s != "" {
				return res, fmt.Errorf("tar entry %q is a hard link through the symlink %q", hdr.Name, s)
			}
			if typ, ok := seen[target]; !ok || typ == tar.TypeDir {
				return res, fmt.Errorf("tar entry %q is a hard link to %q, which is not an earlier file", hdr.Name, hdr.Linkname)
			}
		default:
			return res, fmt.Errorf("tar entry %q has the unsupported type %q", hdr.Name, string(rune(hdr.Typeflag)))
		}
		seen[name] = hdr.Typeflag
	}
	// Count the tar padding after the end marker into the ID as well.
	if _, err := io.Copy(h, raw); err != nil {
		return res, fmt.Errorf("reading the image: %w", err)
	}
	if res.Manifest == nil {
		return res, errors.New("the image has no manifest entry: not an ACI")
	}
	if !hasRootfs {
		return res, errors.New("the image has no rootfs directory entry: not an ACI")
	}
	res.ID = "sha512-" + hex.EncodeToString(h.Sum(nil))
	return res, nil
}

// entryName cleans a tar entry name and refuses names that leave the image.
func entryName(n string) (string, error) {
	if n == "" {
		return "", errors.New("tar entry with an empty name")
	}
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("tar entry %q has an absolute path", n)
	}
	for _, el := range strings.Split(n, "/") {
		if el == ".." {
			return "", fmt.Errorf("tar entry %q escapes the image with '..'", n)
		}
	}
	if strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("tar entry %q has a NUL byte in its name", n)
	}
	c := path.Clean(n)
	if c == "." {
		return c, nil
	}
	if c != "manifest" && c != "rootfs" && !strings.HasPrefix(c, "rootfs/") {
		return "", fmt.Errorf("tar entry %q is outside manifest and rootfs/", n)
	}
	return c, nil
}
