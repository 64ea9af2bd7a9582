package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/step"
)

// aciSources are the host directories the ACI benchmark tree is copied
// from, with a byte budget each: real distribution files (many small ones
// from /usr/share, executables, large shared libraries), like a
// debootstrap rootfs.
var aciSources = []struct {
	dir     string
	budget  int64
	maxFile int64 // larger files are skipped; 0: no limit
}{
	{"/usr/share", 70 << 20, 256 << 10},
	{"/usr/include", 25 << 20, 0},
	{"/usr/bin", 40 << 20, 0},
	{"/usr/lib/x86_64-linux-gnu", 60 << 20, 0},
	{"/usr/lib/aarch64-linux-gnu", 60 << 20, 0},
	{"/usr/lib", 40 << 20, 0},
}

const aciMinBytes = 150e6

// aciPeerLevel is the gzip level actool (Go's compress/gzip default) uses.
const aciPeerLevel = 6

// Aci times aci.Pack at each of o.AciLevels against `actool build`
// (appc/spec v0.8.11, built from the pinned module) on the same ≥150 MB
// tree, interleaved in each of o.Runs rounds (default 5) after a warm-up;
// the best wall time counts, CPU times are logged too (steadier on a
// shared machine). `actool validate` must accept every output. It logs each
// level's size and speed relative to actool; the headline is the default
// level.
//
// The tree (real files copied from the host's /usr: many small files, big
// libraries, symlinks, plus hardlinks; no device nodes, on which actool
// hangs) is generated once under BuildDir/bench/aci and reused;
// o.AciRootfs benchmarks a copy of an existing rootfs instead.
func Aci(ctx context.Context, o Options) (Result, error) {
	base, err := o.dir("aci")
	if err != nil {
		return Result{}, err
	}
	actool := filepath.Join(base, "actool")
	if err := step.Run(ctx, "go", "build", "-o", actool, "github.com/appc/spec/actool"); err != nil {
		return Result{}, fmt.Errorf("building actool from the pinned appc/spec module: %w", err)
	}
	layout, err := aciTree(ctx, o)
	if err != nil {
		return Result{}, err
	}
	levels := o.AciLevels
	if len(levels) == 0 {
		levels = []int{aci.DefaultLevel, 4, aciPeerLevel}
	}
	type side struct {
		level     int
		out       string
		wall, cpu float64 // best of the rounds
	}
	var ours []*side
	for _, l := range levels {
		ours = append(ours, &side{level: l, out: filepath.Join(base, fmt.Sprintf("ours-%d.aci", l))})
	}
	peer := &side{out: filepath.Join(base, "actool.aci")}
	if _, err := aci.Pack(ctx, layout, ours[0].out, aci.PackOptions{Epoch: 1700000000, HasEpoch: true}); err != nil { // warm-up
		return Result{}, err
	}
	keep := func(s *side, wall, cpu float64) {
		if s.wall == 0 || wall < s.wall {
			s.wall = wall
		}
		if s.cpu == 0 || cpu < s.cpu {
			s.cpu = cpu
		}
	}
	for i := 0; i < o.runs(5); i++ {
		start, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_CHILDREN)
		if err := step.Run(ctx, actool, "build", "--overwrite", layout, peer.out); err != nil {
			return Result{}, fmt.Errorf("actool build: %w", err)
		}
		keep(peer, time.Since(start).Seconds(), cpuSeconds(syscall.RUSAGE_CHILDREN)-c0)
		var line []string
		for _, s := range ours {
			start, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
			if _, err := aci.Pack(ctx, layout, s.out, aci.PackOptions{Epoch: 1700000000, HasEpoch: true, Level: s.level}); err != nil {
				return Result{}, err
			}
			keep(s, time.Since(start).Seconds(), cpuSeconds(syscall.RUSAGE_SELF)-c0)
			line = append(line, fmt.Sprintf("level %d %.2fs", s.level, s.wall))
		}
		step.Logf(ctx, "round %d: best so far: %s, actool %.2fs", i+1, strings.Join(line, ", "), peer.wall)
	}
	pfi, err := os.Stat(peer.out)
	if err != nil {
		return Result{}, err
	}
	step.Summaryf(ctx, "bench aci: actool %.1f MB (Go compress/gzip level %d), wall %.2fs, CPU %.2fs", float64(pfi.Size())/1e6, aciPeerLevel, peer.wall, peer.cpu)
	for _, s := range ours {
		if out, err := step.Output(ctx, actool, "validate", s.out); err != nil {
			return Result{}, fmt.Errorf("actool validate rejects our output %s: %w\n%s", s.out, err, out)
		}
		if err := aci.Validate(s.out); err != nil {
			return Result{}, err
		}
		fi, err := os.Stat(s.out)
		if err != nil {
			return Result{}, err
		}
		step.Summaryf(ctx, "bench aci: level %d: %.1f MB = %.3fx actool's size; wall %.2fs = %.2fx faster; CPU %.2fs = %.2fx",
			s.level, float64(fi.Size())/1e6, float64(fi.Size())/float64(pfi.Size()), s.wall, peer.wall/s.wall, s.cpu, peer.cpu/s.cpu)
	}
	step.Summaryf(ctx, "bench aci: actool validate accepts every output")
	return Result{Ours: seconds(ours[0].wall), Peer: seconds(peer.wall), PeerTool: "actool build"}, nil
}

// aciTree returns the layout (manifest + rootfs/) bench aci packs and bench
// fetch serves: a copy of o.AciRootfs, or the tree generated once from the
// host's files; it holds at least 150 MB.
func aciTree(ctx context.Context, o Options) (string, error) {
	base, err := o.dir("aci")
	if err != nil {
		return "", err
	}
	layout := filepath.Join(base, "layout")
	if o.AciRootfs != "" {
		layout = filepath.Join(base, "rootfs-layout")
		if err := layoutFrom(ctx, o.AciRootfs, layout); err != nil {
			return "", fmt.Errorf("ACI_BENCH_ROOTFS=%s: %w", o.AciRootfs, err)
		}
	} else if _, err := os.Stat(filepath.Join(layout, "manifest")); err != nil {
		step.Summaryf(ctx, "bench: generating the benchmark tree in %s", layout)
		if err := fsutil.ReplaceDir(layout, makeTree); err != nil {
			return "", fmt.Errorf("generating %s: %w", layout, err)
		}
	}
	st, err := statTree(filepath.Join(layout, "rootfs"))
	if err != nil {
		return "", err
	}
	step.Summaryf(ctx, "bench: tree %s: %.0f MB in %d files, %d dirs, %d symlinks, %d hardlinks",
		layout, float64(st.bytes)/1e6, st.files, st.dirs, st.symlinks, st.hardlinks)
	if st.bytes < aciMinBytes {
		return "", fmt.Errorf("tree %s holds only %.0f MB, need ≥150 MB: remove it and rerun", layout, float64(st.bytes)/1e6)
	}
	return layout, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// layoutFrom copies the rootfs src (as root, with cp -a) into
// layout/rootfs without its device nodes, unless layout already holds a copy
// of src.
func layoutFrom(ctx context.Context, src, layout string) error {
	src, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	// The source is recorded beside the layout: actool rejects any extra
	// file inside it.
	marker := layout + ".source"
	if b, err := os.ReadFile(marker); err == nil && string(b) == src {
		if _, err := os.Stat(filepath.Join(layout, "manifest")); err == nil {
			return nil
		}
	}
	step.Summaryf(ctx, "bench aci: copying %s into %s (without device nodes: actool build hangs on them)", src, layout)
	err = fsutil.ReplaceDir(layout, func(tmp string) error {
		rootfs := filepath.Join(tmp, "rootfs")
		if err := step.Run(ctx, "cp", "-a", "--", src, rootfs); err != nil {
			return err
		}
		err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
				return os.Remove(p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return writeManifest(tmp)
	})
	if err != nil {
		return err
	}
	return fsutil.WriteFileBytes(marker, []byte(src), 0o644)
}

type treeStats struct {
	bytes                            int64
	files, dirs, symlinks, hardlinks int
}

// statTree counts root's entries and bytes; a file named *.hardlink with
// more than one link is counted as a hardlink, its data once.
func statTree(root string) (treeStats, error) {
	var s treeStats
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			s.dirs++
		case d.Type()&fs.ModeSymlink != 0:
			s.symlinks++
		case fi.Mode().IsRegular():
			s.files++
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && strings.HasSuffix(p, ".hardlink") {
				s.hardlinks++
				return nil // its data is counted once
			}
			s.bytes += fi.Size()
		}
		return nil
	})
	return s, err
}

// makeTree copies real files from the host into tmp/rootfs within the
// budgets of aciSources, adds a hardlink for every 50th file, and writes a
// manifest.
func makeTree(tmp string) error {
	rootfs := filepath.Join(tmp, "rootfs")
	n := 0
	seen := map[string]bool{}
	for _, src := range aciSources {
		var used int64
		err := filepath.WalkDir(src.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: skip
			}
			if used >= src.budget {
				return filepath.SkipAll
			}
			if seen[p] {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			seen[p] = true
			dst := filepath.Join(rootfs, p)
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			switch {
			case d.IsDir():
				return os.MkdirAll(dst, 0o755)
			case d.Type()&fs.ModeSymlink != 0:
				t, err := os.Readlink(p)
				if err != nil {
					return nil
				}
				return os.Symlink(t, dst)
			case fi.Mode().IsRegular():
				if src.maxFile > 0 && fi.Size() > src.maxFile {
					return nil
				}
				if err := fsutil.CopyFile(p, dst, fi.Mode().Perm()); err != nil {
					return nil
				}
				used += fi.Size()
				n++
				if n%50 == 0 {
					return os.Link(dst, dst+".hardlink")
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return writeManifest(tmp)
}

// writeManifest writes the benchmark image's manifest into dir.
func writeManifest(dir string) error {
	m, err := aci.NewManifest("rktbuild.example/bench", map[string]string{"version": "1"})
	if err != nil {
		return err
	}
	b, err := aci.MarshalManifest(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest"), b, 0o644)
}
