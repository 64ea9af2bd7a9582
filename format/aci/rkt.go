package aci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// RktDeviceHint explains why images meant for rkt must not carry device
// nodes, and the fix.
const RktDeviceHint = "rkt 1.30.0 (like actool build) opens and reads every character device " +
	"while rendering an image (store/treestore/tree.go), so `rkt run` hangs forever, e.g. on " +
	"/dev/console; rkt's stage1 provides /dev in the pod: remove device nodes, FIFOs and sockets " +
	"from the rootfs and keep /dev as an empty directory"

// SpecialFile is a rootfs entry rkt cannot render: a character or block
// device, a FIFO or a socket.
type SpecialFile struct {
	// Name is the entry's path inside the rootfs, e.g. "/dev/console".
	Name string
	// Kind is "character device", "block device", "FIFO" or "socket".
	Kind string
}

func (s SpecialFile) String() string { return s.Name + " (" + s.Kind + ")" }

// ErrRktUnrenderable is wrapped by RktCheck's error.
var ErrRktUnrenderable = errors.New("image has device nodes rkt cannot render")

func kindOfMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return ""
}

func kindOfType(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return ""
}

// SpecialFilesInTree lists the device nodes, FIFOs and sockets under the
// rootfs directory, in walk (sorted) order.
func SpecialFilesInTree(rootfs string) ([]SpecialFile, error) {
	var out []SpecialFile
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if k := kindOfMode(d.Type()); k != "" {
			rel, err := filepath.Rel(rootfs, p)
			if err != nil {
				return err
			}
			out = append(out, SpecialFile{Name: "/" + filepath.ToSlash(rel), Kind: k})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning %s for device nodes: %w", rootfs, err)
	}
	return out, nil
}

// RemoveSpecialFiles deletes the device nodes, FIFOs and sockets under
// rootfs and makes sure rootfs/dev exists as a directory, which is what an
// image rkt runs must look like (see RktDeviceHint). It returns what it
// removed.
func RemoveSpecialFiles(rootfs string) ([]SpecialFile, error) {
	found, err := SpecialFilesInTree(rootfs)
	if err != nil {
		return nil, err
	}
	for _, s := range found {
		if err := os.Remove(filepath.Join(rootfs, filepath.FromSlash(s.Name))); err != nil {
			return nil, fmt.Errorf("removing %s from %s: %w", s, rootfs, err)
		}
	}
	dev := filepath.Join(rootfs, "dev")
	if fi, err := os.Lstat(dev); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: an image's /dev must be an (empty) directory", dev)
	}
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return nil, err
	}
	return found, nil
}

// SpecialFiles lists the device nodes and FIFOs in the ACI file (tar
// cannot hold sockets), in archive order.
func SpecialFiles(file string) ([]SpecialFile, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, closer, err := decompressStream(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if closer != nil {
		defer closer()
	}
	tr := tar.NewReader(raw)
	var out []SpecialFile
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		if k := kindOfType(hdr.Typeflag); k != "" {
			name := strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "./"), "rootfs")
			out = append(out, SpecialFile{Name: name, Kind: k})
		}
	}
}

// RktCheck returns an error wrapping ErrRktUnrenderable when the ACI file
// holds device nodes or FIFOs: rkt 1.30.0 hangs rendering it. The error
// names every entry and the fix.
func RktCheck(file string) error {
	found, err := SpecialFiles(file)
	if err != nil {
		return err
	}
	return rktError(file, found)
}

func rktError(file string, found []SpecialFile) error {
	if len(found) == 0 {
		return nil
	}
	names := make([]string, len(found))
	for i, s := range found {
		names[i] = s.String()
	}
	return fmt.Errorf("%s: %w: %s; %s", file, ErrRktUnrenderable, strings.Join(names, ", "), RktDeviceHint)
}

// checkEntries applies the archive rules Validate and Extract enforce to
// the headers pack is about to write, so that packing fails before
// writing anything an ACI reader would refuse (e.g. a rootfs symlink
// "up -> ../../../..").
func checkEntries(manifest []byte, rootHdr *tar.Header, entries []*entry) error {
	c := newChecker()
	c.manifest = manifest
	if _, err := c.check(&tar.Header{Name: "manifest", Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := c.check(rootHdr); err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := c.check(e.hdr); err != nil {
			return fmt.Errorf("%s: %w", e.src, err)
		}
	}
	return c.finish()
}
