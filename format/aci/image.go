package aci

import (
	"fmt"
	"os"

	"github.com/appc/spec/schema"
)

// Image is an ACI file opened once: its path, image ID and manifest, all
// from one streaming pass that also applied the archive rules. It is the
// one record of "an ACI on disk"; the store's index entries
// (store.Image) and OCI conversions (oci.Image) are different things.
type Image struct {
	// Path is the ACI file.
	Path string
	// ID is "sha512-" + hex sha512 of the uncompressed tar.
	ID string
	// Manifest is the schema-checked image manifest.
	Manifest *schema.ImageManifest
	// RawManifest holds the manifest entry's bytes as stored.
	RawManifest []byte
	// Size is the file's (compressed) size in bytes.
	Size int64
}

// Open reads the ACI file once — decompressing, hashing and checking each
// entry on the way (see Check) — and returns its ID and manifest. A file
// that is not a valid ACI is refused with the reason and the command that
// explains it.
func Open(file string) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	res, err := Check(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid ACI: %w (see `mage aci:validate %s`)", file, err, file)
	}
	m, err := ParseManifest(file+": manifest", res.Manifest)
	if err != nil {
		return nil, err
	}
	return &Image{Path: file, ID: res.ID, Manifest: m, RawManifest: res.Manifest, Size: fi.Size()}, nil
}

// Name is the manifest's image name.
func (im *Image) Name() string { return im.Manifest.Name.String() }

// Labels are the manifest's labels as a map.
func (im *Image) Labels() map[string]string { return LabelMap(im.Manifest.Labels) }

// ShortID is the image ID as rkt shows it: "sha512-" and 32 hex digits.
func (im *Image) ShortID() string { return ShortID(im.ID) }

// ShortID shortens an image ID the way rkt prints it ("sha512-" and 32
// hex digits); shorter strings are returned unchanged.
func ShortID(id string) string {
	if len(id) > 7+32 {
		return id[:7+32]
	}
	return id
}
