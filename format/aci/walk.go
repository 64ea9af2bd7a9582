package aci

import (
	"archive/tar"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/appc/spec/schema"
)

// Walker is what Walk calls while it streams an ACI.
type Walker struct {
	// Manifest, when set, is called with the parsed manifest as soon as
	// its entry is read; an error stops the walk (and is returned).
	Manifest func(m *schema.ImageManifest) error
	// Entry is called for every entry under rootfs/ but the rootfs
	// directory itself, with its name relative to rootfs/ (no leading
	// "./" or "/") and its data.
	Entry func(name string, hdr *tar.Header, body io.Reader) error
}

// Walk reads the ACI file once, as a stream, for readers that convert or
// inventory its rootfs (OCI layers, SBOMs): it calls w for the manifest
// and each rootfs entry, and returns the image with its ID (sha512 of
// every byte of the uncompressed tar, end blocks included) and manifest.
// An entry outside manifest and rootfs/, or no manifest, is an error: the
// file is not an ACI. It checks ctx every 256 entries.
func Walk(ctx context.Context, file string, w Walker) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r, closer, err := decompress(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if closer != nil {
		defer closer()
	}
	h := sha512.New()
	tee := io.TeeReader(r, h)
	im := &Image{Path: file, Size: fi.Size()}
	if err := walk(ctx, tar.NewReader(tee), im, w); err != nil {
		return im, fmt.Errorf("%s: %w", file, err)
	}
	// The tar end blocks count for the image ID too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return im, fmt.Errorf("%s: reading: %w", file, err)
	}
	im.ID = formatID(h.Sum(nil))
	return im, nil
}

func walk(ctx context.Context, tr *tar.Reader, im *Image, w Walker) error {
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the image: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		switch {
		case name == "manifest" && hdr.Typeflag == tar.TypeReg:
			b, err := readAllLimited(tr, maxManifest)
			if err != nil {
				return fmt.Errorf("reading manifest: %w", err)
			}
			if im.Manifest, err = ParseManifest("manifest", b); err != nil {
				return err
			}
			im.RawManifest = b
			if w.Manifest != nil {
				if err := w.Manifest(im.Manifest); err != nil {
					return err
				}
			}
		case name == "rootfs" || name == "rootfs/":
		case !strings.HasPrefix(name, "rootfs/"):
			return fmt.Errorf("entry %q is outside rootfs/ (not an ACI)", hdr.Name)
		case w.Entry != nil:
			if err := w.Entry(strings.TrimPrefix(name, "rootfs/"), hdr, tr); err != nil {
				return err
			}
		}
	}
	if im.Manifest == nil {
		return errors.New("no manifest (not an ACI)")
	}
	return nil
}
