package aci

import (
	"fmt"
	"io"
	"os"
)

// OpenTar opens an ACI file and returns its uncompressed tar stream,
// whatever the compression (gzip, bzip2, xz or none), for readers that
// walk the entries themselves (OCI conversion, SBOM). Closing it closes
// the file.
func OpenTar(file string) (io.ReadCloser, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	r, closer, err := decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &stream{Reader: r, closer: closer, f: f}, nil
}

type stream struct {
	io.Reader
	closer func() error
	f      *os.File
}

func (s *stream) Close() error {
	if s.closer != nil {
		_ = s.closer()
	}
	return s.f.Close()
}
