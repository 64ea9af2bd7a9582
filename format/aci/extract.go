package aci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/internal/say"

	"github.com/appc/spec/aci"
	"golang.org/x/sys/unix"
)

const paxXattr = "SCHILY.xattr."

// Extract unpacks the ACI file into dir (which must not exist or be
// empty), giving dir/manifest and dir/rootfs. Every entry is checked first
// (see Validate): absolute names, "..", and symlink or hardlink escapes are
// refused with the offending entry named. Extraction happens in a temporary
// directory beside dir that is renamed into place only when complete, so
// nothing half-extracted is ever left under dir. Owners, device nodes and
// security.capability are restored when running as root; without root,
// owners and xattrs are skipped and a device node is an error. No other
// extended attribute is ever restored (see allowedXattrs); the skipped
// names are printed.
func Extract(ctx context.Context, file, dir string) error {
	if fi, err := os.Lstat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("extract %s: %s exists and is not a directory; choose another directory", file, dir)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
			return fmt.Errorf("extract %s: %s exists and is not empty; remove it or choose another directory", file, dir)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := openTar(f)
	if err != nil {
		return fmt.Errorf("extract %s: %w", file, err)
	}
	defer rc.Close()
	skipped := skippedXattrs{}
	err = fsutil.ReplaceDir(dir, func(tmp string) error {
		return extractTar(ctx, rc.tr, tmp, skipped)
	})
	if err != nil {
		return fmt.Errorf("extract %s: %w", file, err)
	}
	if s := skipped.String(); s != "" {
		say.Linef(ctx, "extract %s: skipped extended attributes not on the allowlist (only %s is restored): %s", file, CapabilityXattr, s)
	}
	return nil
}

type dirMeta struct {
	path string
	hdr  *tar.Header
}

func extractTar(ctx context.Context, tr *tar.Reader, root string, skipped skippedXattrs) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	root = filepath.Clean(root)
	c := newChecker()
	root0 := os.Geteuid() == 0
	var dirs []dirMeta
	for n := 0; ; n++ {
		if n%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		name, err := c.check(hdr)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		target := filepath.Join(root, filepath.FromSlash(name))
		// Defence in depth: the checker already refused anything that
		// could resolve outside root.
		if !strings.HasPrefix(target, root+string(filepath.Separator)) {
			return fmt.Errorf("entry %q: resolves outside the extraction directory", hdr.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if name == aci.ManifestFile {
			b, err := readAllLimited(tr, maxManifest)
			if err != nil {
				return fmt.Errorf("reading manifest: %w", err)
			}
			if _, err := ParseManifest("manifest", b); err != nil {
				return err
			}
			c.manifest = b
			if err := os.WriteFile(target, b, 0o644); err != nil {
				return err
			}
			continue
		}
		if err := create(ctx, tr, hdr, root, target, root0); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirMeta{target, hdr})
			continue
		}
		if err := setMeta(hdr, target, root0, skipped); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	if err := c.finish(); err != nil {
		return err
	}
	// A cancellation that arrived after the last entry still wins: the
	// caller must not rename a tree into place and then report failure.
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	// Directory modes and times last, deepest first, so that read-only
	// directories and their mtimes survive the creation of their children.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setMeta(dirs[i].hdr, dirs[i].path, root0, skipped); err != nil {
			return fmt.Errorf("entry %q: %w", dirs[i].hdr.Name, err)
		}
	}
	return nil
}

func create(ctx context.Context, tr *tar.Reader, hdr *tar.Header, root, target string, root0 bool) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		err := os.Mkdir(target, 0o700)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if fi, err := os.Lstat(target); err != nil || !fi.IsDir() {
			return errors.New("exists and is not a directory")
		}
		return nil
	case tar.TypeReg:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, fsutil.CtxReader(ctx, tr)); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case tar.TypeSymlink:
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		return os.Link(filepath.Join(root, filepath.FromSlash(filepath.Clean(hdr.Linkname))), target)
	case tar.TypeChar, tar.TypeBlock:
		if !root0 {
			return errors.New("creating a device node needs root")
		}
		typ := uint32(unix.S_IFCHR)
		if hdr.Typeflag == tar.TypeBlock {
			typ = unix.S_IFBLK
		}
		return unix.Mknod(target, typ|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeFifo:
		return unix.Mkfifo(target, mode)
	}
	return fmt.Errorf("unsupported entry type %q", string(rune(hdr.Typeflag)))
}

// setMeta restores owner (as root), mode, xattrs (as root) and mtime, in
// that order: chown clears setuid/setgid and security.capability.
func setMeta(hdr *tar.Header, target string, root0 bool, skipped skippedXattrs) error {
	if hdr.Typeflag == tar.TypeLink {
		// A hardlink shares its inode with the earlier entry, which
		// already has its metadata; chown would clear its setuid bit.
		return nil
	}
	if root0 {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	// Symlinks have no mode of their own on Linux.
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Chmod(target, uint32(hdr.Mode&0o7777)); err != nil {
			return err
		}
	}
	if root0 {
		for k, v := range hdr.PAXRecords {
			if !strings.HasPrefix(k, paxXattr) {
				continue
			}
			x := strings.TrimPrefix(k, paxXattr)
			if !xattrAllowed(x) {
				skipped[x]++
				continue
			}
			if err := unix.Lsetxattr(target, x, []byte(v), 0); err != nil {
				return fmt.Errorf("setting xattr %s: %w", x, err)
			}
		}
	}
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
