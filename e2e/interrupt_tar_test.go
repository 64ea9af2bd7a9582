//go:build e2e

package e2e

import (
	"archive/tar"
	"io"
	"time"
)

// newTarHeaders writes the headers of an ACI with manifest mb and one
// rootfs/big entry of size bytes, without the data (the caller extends
// the file with a hole of zeros, which is also the tar's end).
func newTarHeaders(w io.Writer, mb []byte, size int64) *tar.Writer {
	tw := tar.NewWriter(w)
	mtime := time.Unix(1700000000, 0)
	tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(mb)), ModTime: mtime})
	tw.Write(mb)
	tw.WriteHeader(&tar.Header{Name: "rootfs", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
	tw.WriteHeader(&tar.Header{Name: "rootfs/big", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mtime})
	return tw
}
