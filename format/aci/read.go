package aci

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
	"os"
	"os/exec"

	"github.com/appc/spec/aci"
	"github.com/klauspost/compress/gzip"
)

var errEOF = io.EOF

// maxManifest bounds the manifest size we read into memory.
const maxManifest = 16 << 20

func readAllLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// tarReader is an ACI's uncompressed stream and a tar reader on it.
type tarReader struct {
	raw    io.Reader // the uncompressed stream
	tr     *tar.Reader
	closer func() error
}

func (t *tarReader) Close() error {
	if t.closer != nil {
		return t.closer()
	}
	return nil
}

// decompress detects the compression of f (gzip, bzip2, xz or none) and
// returns the uncompressed stream.
func decompress(f io.ReadSeeker) (io.Reader, func() error, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	return decompressStream(f)
}

// decompressStream detects the compression of r by its magic bytes and
// returns the uncompressed stream; it never seeks, so r may be a download.
func decompressStream(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("reading the image: %w", err)
	}
	switch typ, _ := aci.DetectFileType(bytes.NewReader(magic)); typ {
	case aci.TypeGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(true)
		return zr, zr.Close, nil
	case aci.TypeBzip2:
		return bzip2.NewReader(br), nil, nil
	case aci.TypeXz:
		if _, err := exec.LookPath("xz"); err != nil {
			return nil, nil, fmt.Errorf("xz-compressed image needs the xz program: apt-get install xz-utils")
		}
		xr, err := aci.NewXzReader(br)
		if err != nil {
			return nil, nil, err
		}
		return xr, xr.Close, nil
	case aci.TypeTar:
		return br, nil, nil
	default:
		return nil, nil, fmt.Errorf("not an ACI: unknown file type (expected a gzip, bzip2 or xz compressed tar, or a tar)")
	}
}

func openTar(f io.ReadSeeker) (*tarReader, error) {
	r, closer, err := decompress(f)
	if err != nil {
		return nil, err
	}
	return &tarReader{raw: r, tr: tar.NewReader(r), closer: closer}, nil
}

// ImageID returns the image ID of the ACI file: "sha512-" followed by the
// hex sha512 of its uncompressed tar, every byte included.
func ImageID(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, closer, err := decompress(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if closer != nil {
		defer closer()
	}
	h := sha512.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("%s: reading: %w", file, err)
	}
	return formatID(h.Sum(nil)), nil
}

func formatID(sum []byte) string { return "sha512-" + hex.EncodeToString(sum) }
