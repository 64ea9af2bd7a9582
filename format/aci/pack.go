package aci

import (
	"archive/tar"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/klauspost/pgzip"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sys/unix"
)

// Compression settings. They are fixed so that the same tree packs to the
// same bytes on any machine: pgzip compresses independent 1 MiB blocks (each
// primed with the previous block's tail), so the output depends on the level
// and block size only, never on the number of workers.
const (
	// DefaultLevel is the gzip level used when PackOptions.Level is 0:
	// the fastest level whose output stays within 5% of actool's size
	// (stdlib level 6). On bench aci's 271 MB tree of host files, in three
	// runs on 2 shared cores (load 3.5 to 15), level 5 was 1.032x actool's
	// size at 2.6-3.6x its speed (CPU time 2.6-2.8x less); level 4 1.052x
	// at 3.2-4.9x; level 6 1.021x at 2.5-2.8x, for 0-5% more CPU than 5.
	// `mage bench aci` reports levels 5, 4 and 6.
	DefaultLevel = 5
	// FastLevel is the cheapest level, for scratch images (aci:build -level=1).
	FastLevel  = 1
	gzipBlock  = 1 << 20
	gzipBlocks = 8
)

// Read-ahead: files up to smallFile bytes are read by readers workers ahead
// of the tar writer, holding at most readAheadBytes in memory; larger files
// are streamed by the writer itself.
const (
	readers        = 4
	smallFile      = 4 << 20
	readAheadBytes = 64 << 20
)

// CapabilityXattr is the extended attribute that packing preserves.
const CapabilityXattr = "security.capability"

// PackOptions controls packing.
type PackOptions struct {
	// Epoch is SOURCE_DATE_EPOCH: when HasEpoch is set, every mtime later
	// than Epoch is clamped to it and the manifest gets Epoch as its mtime.
	Epoch    int64
	HasEpoch bool
	// ForceRoot records every entry as owned by uid 0, gid 0 instead of
	// its numeric owner.
	ForceRoot bool
	// Level is the gzip compression level (1-9); 0 means DefaultLevel.
	Level int
	// Progress, when set, receives the number of uncompressed bytes as
	// they are written.
	Progress io.Writer
}

// Pack packs dir, which holds a "manifest" file and a "rootfs" directory,
// into the ACI file out (which must end in .aci), atomically. It returns the
// image ID, computed while writing. The manifest is validated with the appc
// schema and stored byte for byte.
func Pack(ctx context.Context, dir, out string, opts PackOptions) (string, error) {
	if err := checkOut(out); err != nil {
		return "", err
	}
	mpath := filepath.Join(dir, "manifest")
	b, err := readAllFile(mpath)
	if err != nil {
		return "", fmt.Errorf("pack %s: %w (an ACI layout directory holds manifest and rootfs/)", dir, err)
	}
	if _, err := ParseManifest(mpath, b); err != nil {
		return "", err
	}
	fi, err := os.Stat(mpath)
	if err != nil {
		return "", err
	}
	return pack(ctx, b, fi.ModTime(), filepath.Join(dir, "rootfs"), out, opts)
}

// PackRootfs packs the directory rootfs with manifest m into the ACI file
// out, atomically, and returns the image ID. m is validated and written in
// its canonical form (see MarshalManifest). The manifest entry's mtime is
// the epoch when one is set, else the current time.
func PackRootfs(ctx context.Context, m *schema.ImageManifest, rootfs, out string, opts PackOptions) (string, error) {
	if err := checkOut(out); err != nil {
		return "", err
	}
	b, err := MarshalManifest(m)
	if err != nil {
		return "", fmt.Errorf("pack %s: %w", out, err)
	}
	return pack(ctx, b, time.Now(), rootfs, out, opts)
}

func checkOut(out string) error {
	if !strings.HasSuffix(out, schema.ACIExtension) {
		return fmt.Errorf("pack: output %q: an ACI file name must end in %s", out, schema.ACIExtension)
	}
	return nil
}

func readAllFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, maxManifest)
}

// entry is one archive member taken from the rootfs.
type entry struct {
	src  string // path on disk
	hdr  *tar.Header
	data chan readResult // read-ahead result, for small regular files
}

type readResult struct {
	b   []byte
	err error
}

func pack(ctx context.Context, manifest []byte, mtime time.Time, rootfs, out string, opts PackOptions) (string, error) {
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	if opts.Level < 1 || opts.Level > 9 {
		return "", fmt.Errorf("pack: gzip level %d out of range 1-9", opts.Level)
	}
	rootHdr, entries, err := scan(rootfs, opts)
	if err != nil {
		return "", err
	}
	if err := checkEntries(manifest, rootHdr, entries); err != nil {
		return "", fmt.Errorf("pack %s: not writing %s, an ACI reader would refuse it: %w", rootfs, out, err)
	}
	mhdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     "manifest",
		Mode:     0o644,
		Size:     int64(len(manifest)),
		ModTime:  clamp(mtime, opts),
	}
	var id string
	err = fsutil.WriteFile(out, 0o644, func(w io.Writer) error {
		var err error
		id, err = writeArchive(ctx, w, mhdr, manifest, rootHdr, entries, opts)
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx) // never rename into place after Ctrl-C
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("pack %s into %s: %w", rootfs, out, err)
	}
	return id, nil
}

func clamp(t time.Time, opts PackOptions) time.Time {
	t = time.Unix(t.Unix(), 0)
	if opts.HasEpoch && t.Unix() > opts.Epoch {
		return time.Unix(opts.Epoch, 0)
	}
	return t
}

type inode struct{ dev, ino uint64 }

// scan walks rootfs in sorted order and builds the tar headers from lstat,
// without opening anything but directories.
func scan(rootfs string, opts PackOptions) (*tar.Header, []*entry, error) {
	fi, err := os.Lstat(rootfs)
	if err != nil {
		return nil, nil, fmt.Errorf("pack: rootfs: %w (an ACI layout directory holds manifest and rootfs/)", err)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("pack: rootfs %s is not a directory", rootfs)
	}
	links := map[inode]string{}
	var rootHdr *tar.Header
	var entries []*entry
	err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, p)
		if err != nil {
			return err
		}
		name := "rootfs"
		if rel != "." {
			name = "rootfs/" + filepath.ToSlash(rel)
		}
		hdr, err := header(p, name, links, opts)
		if err != nil {
			return fmt.Errorf("pack: %s: %w", p, err)
		}
		if rel == "." {
			rootHdr = hdr
			return nil
		}
		e := &entry{src: p, hdr: hdr}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 && hdr.Size <= smallFile {
			e.data = make(chan readResult, 1)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rootHdr, entries, nil
}

// header builds the tar header of one file from lstat.
func header(p, name string, links map[inode]string, opts PackOptions) (*tar.Header, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, err
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: clamp(time.Unix(st.Mtim.Unix()), opts),
	}
	if opts.ForceRoot {
		hdr.Uid, hdr.Gid = 0, 0
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		key := inode{uint64(st.Dev), uint64(st.Ino)}
		if first, ok := links[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			return hdr, nil
		}
		links[key] = name
	}
	switch typ {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if err := addXattrs(p, hdr); err != nil {
			return nil, err
		}
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if typ == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(uint64(st.Rdev)))
		hdr.Devminor = int64(unix.Minor(uint64(st.Rdev)))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return nil, errors.New("sockets cannot be stored in an ACI; remove it from the rootfs")
	default:
		return nil, fmt.Errorf("unsupported file type %o", typ)
	}
	return hdr, nil
}

// addXattrs records security.capability as a PAX SCHILY.xattr record.
func addXattrs(p string, hdr *tar.Header) error {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, CapabilityXattr, buf)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
		return nil
	case errors.Is(err, unix.ERANGE):
		buf = make([]byte, 64<<10)
		if n, err = unix.Lgetxattr(p, CapabilityXattr, buf); err != nil {
			return fmt.Errorf("reading xattr %s: %w", CapabilityXattr, err)
		}
	default:
		return fmt.Errorf("reading xattr %s: %w", CapabilityXattr, err)
	}
	hdr.PAXRecords = map[string]string{"SCHILY.xattr." + CapabilityXattr: string(buf[:n])}
	return nil
}

// tee writes to the hash and the compressor: the image ID is computed from
// the very bytes that are compressed, in the same pass.
type tee struct {
	h    hash.Hash
	z    io.Writer
	prog io.Writer
}

func (t *tee) Write(p []byte) (int, error) {
	t.h.Write(p)
	if t.prog != nil {
		t.prog.Write(p)
	}
	return t.z.Write(p)
}

func writeArchive(ctx context.Context, w io.Writer, mhdr *tar.Header, manifest []byte, rootHdr *tar.Header, entries []*entry, opts PackOptions) (string, error) {
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan *entry, 256)
	sem := semaphore.NewWeighted(readAheadBytes)
	// Dispatcher: reserves memory in archive order, then hands small files
	// to the readers. The writer releases memory in the same order, so the
	// reservation can never deadlock.
	g.Go(func() error {
		defer close(jobs)
		for _, e := range entries {
			if e.data == nil {
				continue
			}
			if err := sem.Acquire(gctx, e.hdr.Size); err != nil {
				return err
			}
			select {
			case jobs <- e:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for i := 0; i < readers; i++ {
		g.Go(func() error {
			for e := range jobs {
				b, err := readSmall(e.src, e.hdr.Size)
				e.data <- readResult{b, err}
			}
			return nil
		})
	}
	var id string
	g.Go(func() error {
		var err error
		id, err = writeTar(gctx, w, mhdr, manifest, rootHdr, entries, sem, opts)
		return err
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", err
	}
	return id, nil
}

func readSmall(p string, size int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s shrank while packing", p)
		}
		return nil, err
	}
	return b, nil
}

func writeTar(ctx context.Context, w io.Writer, mhdr *tar.Header, manifest []byte, rootHdr *tar.Header, entries []*entry, sem *semaphore.Weighted, opts PackOptions) (string, error) {
	zw, err := pgzip.NewWriterLevel(w, opts.Level)
	if err != nil {
		return "", err
	}
	if err := zw.SetConcurrency(gzipBlock, gzipBlocks); err != nil {
		return "", err
	}
	h := sha512.New()
	tw := tar.NewWriter(&tee{h: h, z: zw, prog: opts.Progress})
	if err := tw.WriteHeader(mhdr); err != nil {
		return "", err
	}
	if _, err := tw.Write(manifest); err != nil {
		return "", err
	}
	if err := tw.WriteHeader(rootHdr); err != nil {
		return "", err
	}
	buf := make([]byte, 1<<20)
	for i, e := range entries {
		if i%64 == 0 && ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err := tw.WriteHeader(e.hdr); err != nil {
			return "", fmt.Errorf("%s: %w", e.src, err)
		}
		if e.hdr.Typeflag != tar.TypeReg || e.hdr.Size == 0 {
			continue
		}
		if e.data != nil {
			var r readResult
			select {
			case r = <-e.data:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if r.err != nil {
				return "", r.err
			}
			if _, err := tw.Write(r.b); err != nil {
				return "", err
			}
			sem.Release(e.hdr.Size)
			continue
		}
		if err := copyLarge(ctx, tw, e.src, e.hdr.Size, buf); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return formatID(h.Sum(nil)), nil
}

// copyLarge copies one file's data, checking ctx per chunk (see
// fsutil.CtxReader) so that a multi-GiB entry does not delay cancellation.
func copyLarge(ctx context.Context, w io.Writer, p string, size int64, buf []byte) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, fsutil.CtxReader(ctx, io.LimitReader(f, size)), buf)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("%s shrank while packing", p)
	}
	return nil
}
