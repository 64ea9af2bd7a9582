package static

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/step"
)

// SymbolPrefix is prepended to every global symbol of the static libmount
// and libblkid that is not part of their public API.
//
// Why: libmount.a and libblkid.a carry util-linux's internal helper library
// (lib/: strutils, strv, pager, sysfs, loopdev, ...), whose global names
// partly equal systemd's own helpers: with systemd 252 and util-linux 2.38.1
// parse_size, parse_range, parse_timestamp, pager_open/close and a dozen
// strv_* functions are defined in both, with different semantics. With
// shared libraries the version scripts (libmount.sym, libblkid.sym) hide
// them; a static link has no such boundary: the link fails with "multiple
// definition of `parse_size'" or, worse, binds one side's calls to the
// other's function of the same name. Renaming the non-public symbols
// with objcopy --redefine-syms (the same map for both archives, so their
// references to each other still match) restores the boundary without
// patching util-linux's sources.
const SymbolPrefix = "rktbuild_ul_"

// ConfigureArgs are util-linux's configure options: only libmount and
// libblkid, static, without optional dependencies (so nothing else needs a
// static archive).
var ConfigureArgs = []string{
	"--disable-all-programs",
	"--enable-libmount",
	"--enable-libblkid",
	"--enable-static",
	"--disable-shared",
	"--disable-nls",
	"--disable-gtk-doc",
	"--without-selinux",
	"--without-udev",
	"--without-python",
	"--without-systemd",
	"--without-cryptsetup",
	"--without-econf",
	"--without-btrfs",
}

// versionSymRe matches a symbol name in a linker version script.
var versionSymRe = regexp.MustCompile(`^\s+([A-Za-z_][A-Za-z0-9_]*);`)

// PublicSymbols reads the exported names from linker version scripts
// (libmount.sym, libblkid.sym).
func PublicSymbols(files ...string) (map[string]bool, error) {
	pub := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading util-linux's export list: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if m := versionSymRe.FindStringSubmatch(sc.Text()); m != nil && m[1] != "local" && m[1] != "global" {
				pub[m[1]] = true
			}
		}
	}
	if len(pub) == 0 {
		return nil, fmt.Errorf("no exported symbols found in %s", strings.Join(files, ", "))
	}
	return pub, nil
}

// DefinedGlobals parses `nm -g --defined-only` output into symbol names.
func DefinedGlobals(nmOutput string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(nmOutput, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && len(f[1]) == 1 {
			set[f[2]] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// RenameMap returns objcopy --redefine-syms lines ("old new") for every
// defined symbol that is not public.
func RenameMap(defined []string, public map[string]bool) []byte {
	var b bytes.Buffer
	for _, s := range defined {
		if !public[s] {
			fmt.Fprintf(&b, "%s %s%s\n", s, SymbolPrefix, s)
		}
	}
	return b.Bytes()
}

// UtilLinux builds static libmount and libblkid from an unpacked util-linux
// source tree in buildDir and installs them, symbols renamed, with headers
// and pkg-config files, under prefix (replaced atomically).
func UtilLinux(ctx context.Context, ex Exec, src, version, buildDir, prefix string, jobs int) error {
	// Debian's patches touch configure.ac and Makefile.am (tty setgid
	// install, tests: nothing in libmount/libblkid), which makes make want
	// to rerun autoconf/automake. Mark the shipped generated files current,
	// in dependency order, instead of needing the autotools.
	now := time.Now()
	for i, f := range []string{"aclocal.m4", "configure", "Makefile.in", "config.h.in"} {
		t := now.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(filepath.Join(src, f), t, t); err != nil {
			return fmt.Errorf("util-linux source %s: %w", src, err)
		}
	}
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		return err
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	absBuild, err := filepath.Abs(buildDir)
	if err != nil {
		return err
	}
	if err := ex(ctx, step.Cmd{Dir: absBuild, Jobs: 1}, filepath.Join(absSrc, "configure"), ConfigureArgs...); err != nil {
		return fmt.Errorf("configuring util-linux %s: %w", version, err)
	}
	if err := ex(ctx, step.Cmd{Dir: absBuild, Jobs: jobs}, "make", "-j"+strconv.Itoa(jobs), "libmount.la", "libblkid.la"); err != nil {
		return fmt.Errorf("building util-linux %s libmount/libblkid: %w", version, err)
	}
	public, err := PublicSymbols(filepath.Join(src, "libmount/src/libmount.sym"), filepath.Join(src, "libblkid/src/libblkid.sym"))
	if err != nil {
		return err
	}
	archives := []string{filepath.Join(absBuild, ".libs/libmount.a"), filepath.Join(absBuild, ".libs/libblkid.a")}
	var nm strings.Builder
	if err := ex(ctx, step.Cmd{Stdout: &nm}, "nm", append([]string{"-g", "--defined-only"}, archives...)...); err != nil {
		return err
	}
	renames := RenameMap(DefinedGlobals(nm.String()), public)
	absPrefix, err := filepath.Abs(prefix)
	if err != nil {
		return err
	}
	return fsutil.ReplaceDir(absPrefix, func(tmp string) error {
		for _, d := range []string{"lib/pkgconfig", "include/libmount", "include/blkid"} {
			if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
				return err
			}
		}
		mapFile := filepath.Join(tmp, "redefine-syms.txt")
		if err := os.WriteFile(mapFile, renames, 0o644); err != nil {
			return err
		}
		for _, a := range archives {
			if err := ex(ctx, step.Cmd{}, "objcopy", "--redefine-syms="+mapFile, a, filepath.Join(tmp, "lib", filepath.Base(a))); err != nil {
				return fmt.Errorf("renaming util-linux's internal symbols: %w", err)
			}
		}
		for _, h := range [][2]string{{"libmount/src/libmount.h", "include/libmount/libmount.h"}, {"libblkid/src/blkid.h", "include/blkid/blkid.h"}} {
			data, err := os.ReadFile(filepath.Join(buildDir, h[0]))
			if err != nil {
				return fmt.Errorf("util-linux build: %w", err)
			}
			if err := os.WriteFile(filepath.Join(tmp, h[1]), data, 0o644); err != nil {
				return err
			}
		}
		final, err := filepath.Abs(prefix)
		if err != nil {
			return err
		}
		for name, pc := range pkgConfigFiles(final, upstreamVersion(version)) {
			if err := os.WriteFile(filepath.Join(tmp, "lib/pkgconfig", name), []byte(pc), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// pkgConfigFiles are mount.pc and blkid.pc for the installed prefix.
func pkgConfigFiles(prefix, version string) map[string]string {
	head := "prefix=" + prefix + "\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\n"
	return map[string]string{
		"mount.pc": head + "Name: mount\nDescription: mount library (static; internal symbols renamed by rktbuild)\n" +
			"Version: " + version + "\nRequires.private: blkid\nCflags: -I${includedir}/libmount\nLibs: -L${libdir} -lmount\n",
		"blkid.pc": head + "Name: blkid\nDescription: block device id library (static; internal symbols renamed by rktbuild)\n" +
			"Version: " + version + "\nCflags: -I${includedir}/blkid\nLibs: -L${libdir} -lblkid\n",
	}
}

// upstreamVersion strips a Debian version's epoch and revision.
func upstreamVersion(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	return v
}
