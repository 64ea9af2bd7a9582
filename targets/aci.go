package targets

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/step"
)

// Aci groups the App Container Image targets: pack, validate, inspect,
// extract and patch .aci files (appc spec v0.8.11).
type Aci mg.Namespace

// packOptions reads the packing configuration and flags.
func packOptions(c *config.Config, root *bool, level *int) (aci.PackOptions, error) {
	epoch, has, err := c.Epoch()
	return aci.PackOptions{Epoch: epoch, HasEpoch: has, ForceRoot: deref(root), Level: deref(level)}, err
}

// Build packs DIR (manifest and rootfs/) into OUT.aci; prints its ID.
//
// It packs DIR (holding manifest and rootfs/) into OUT.aci and prints
// the image ID.
//
// Usage: mage aci:build DIR OUT.aci [-root] [-level=N]
//
// Entries are sorted; files, directories, symlinks, hardlinks, device
// nodes, FIFOs, setuid/setgid/sticky bits and security.capability are kept;
// owners are numeric (-root records every entry as uid/gid 0). With
// SOURCE_DATE_EPOCH set, mtimes are clamped to it and two builds of the same
// tree are byte-identical. The manifest is validated with the appc schema,
// and the archive rules of aci:validate are checked before anything is
// written (a symlink escaping the rootfs fails the build). Each device
// node or FIFO is kept but reported: rkt cannot run such an image.
// OUT is written atomically. -level sets the gzip level (default 4: within
// about 5% of actool's size; 1 is fastest and about 12% larger; the level
// is part of the output bytes).
func (Aci) Build(ctx context.Context, dir, out string, root *bool, level *int) error {
	return run(ctx, "aci:build", func(ctx context.Context, c *config.Config) error {
		opts, err := packOptions(c, root, level)
		if err != nil {
			return err
		}
		if step.IsDryRun() {
			step.Summaryf("aci:build: would pack %s into %s", dir, out)
			return nil
		}
		if err := warnSpecialTree(dir); err != nil {
			return err
		}
		return packWithProgress(ctx, dir, out, opts)
	})
}

// packWithProgress packs dir into out showing a progress bar, then prints
// the image ID.
func packWithProgress(ctx context.Context, dir, out string, opts aci.PackOptions) error {
	prog := step.NewProgress(ctx, "packing "+filepath.Base(out), -1)
	opts.Progress = prog
	id, err := aci.Pack(ctx, dir, out, opts)
	prog.Done()
	if err == nil {
		step.Summaryf("wrote %s", out)
		fmt.Println(id)
	}
	return err
}

// Validate checks an ACI with appc's rules plus rktbuild's (-rkt: strict).
//
// It checks an ACI file with appc/spec's archive and manifest
// validation plus rktbuild's own rules.
//
// Usage: mage aci:validate FILE [-rkt]
//
// Device nodes and FIFOs are valid in an ACI but rkt 1.30.0 hangs
// rendering them: each one is reported as a warning, or, with -rkt, as an
// error (what publish requires).
//
// Our rules: the name ends in .aci; the archive holds exactly manifest and
// rootfs/ at the top with an explicit rootfs directory entry; no duplicate,
// absolute or ".." names; no hardlink or symlink that escapes the rootfs;
// exec and mount points are absolute paths.
func (Aci) Validate(ctx context.Context, file string, rkt *bool) error {
	if err := aci.Validate(file); err != nil {
		return err
	}
	special, err := aci.SpecialFiles(file)
	if err != nil {
		return err
	}
	if rkt != nil && *rkt {
		if err := aci.RktCheck(file); err != nil {
			return err
		}
		step.Summaryf("%s: valid ACI, renderable by rkt", file)
		return nil
	}
	warnSpecial(file, special)
	step.Summaryf("%s: valid ACI", file)
	return nil
}

// warnSpecialTree warns about each device node, FIFO or socket in
// DIR/rootfs (see warnSpecial).
func warnSpecialTree(dir string) error {
	special, err := aci.SpecialFilesInTree(filepath.Join(dir, "rootfs"))
	warnSpecial(dir, special)
	return err
}

// warnSpecial prints one warning per device node, FIFO or socket in an
// image, and why rkt cannot run it.
func warnSpecial(what string, special []aci.SpecialFile) {
	for _, s := range special {
		step.Summaryf("warning: %s: rootfs%s is a %s: `rkt run` would hang rendering it; remove it (rkt provides /dev)", what, s.Name, s.Kind)
	}
	if len(special) > 0 {
		step.Summaryf("warning: %s: %d entries rkt cannot render: %s (aci:validate -rkt makes this an error; publish refuses it)", what, len(special), aci.RktDeviceHint)
	}
}

// Manifest prints the image manifest of an ACI file as JSON.
//
// Usage: mage aci:manifest FILE
func (Aci) Manifest(ctx context.Context, file string) error {
	im, err := aci.Open(file)
	if err != nil {
		return err
	}
	b, err := aci.MarshalManifest(im.Manifest)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}

// ID prints the image ID of an ACI file (sha512 of the uncompressed tar).
//
// It prints the image ID of an ACI file (sha512- and the hex sha512 of the
// uncompressed tar).
//
// Usage: mage aci:id FILE
func (Aci) ID(ctx context.Context, file string) error {
	im, err := aci.Open(file)
	if err != nil {
		return err
	}
	fmt.Println(im.ID)
	return nil
}

// Extract unpacks an ACI file into DIR (DIR/manifest and DIR/rootfs).
//
// Usage: mage aci:extract FILE DIR
//
// DIR must not exist or be empty. Absolute names, "..", and symlink or
// hardlink escapes are refused with the entry named; nothing is left
// half-extracted. Owners, device nodes and capabilities need root.
func (Aci) Extract(ctx context.Context, file, dir string) error {
	if step.IsDryRun() {
		step.Summaryf("aci:extract: would extract %s into %s", file, dir)
		return nil
	}
	if err := aci.Extract(ctx, file, dir); err != nil {
		return err
	}
	step.Summaryf("extracted %s into %s", file, dir)
	return nil
}

// Patch renames or relabels an ACI's manifest into OUT.aci, signed.
//
// It renames and/or relabels the manifest of FILE, writing OUT.aci and,
// when SIGNING_KEY is set, its signature OUT.aci.asc.
//
// Usage: mage aci:patch FILE OUT.aci [-name=NAME] [-labels=k=v,k2=v2,gone=]
//
// NAME must be a valid appc image name; each label is validated by the
// schema, and "k=" (empty value) removes label k. Every other entry is
// copied unchanged. The signature uses SIGNING_KEY (generated on first use
// from KEY_USE_NAME, KEY_USE_COMMENT, KEY_USE_EMAIL) with the passphrase
// from SIGNING_PASSPHRASE_FILE or $KEY_PASSPHRASE; set SIGNING_KEY= (empty)
// to skip signing.
func (Aci) Patch(ctx context.Context, file, out string, name, labels *string) error {
	return run(ctx, "aci:patch", func(ctx context.Context, c *config.Config) error {
		p, err := patchOptions(deref(name), deref(labels))
		if err != nil {
			return err
		}
		if step.IsDryRun() {
			step.Summaryf("aci:patch: would write %s from %s", out, file)
			return nil
		}
		id, err := aci.Patch(ctx, file, out, p)
		if err == nil {
			_, err = signerFor(c).SignIfConfigured(ctx, out) // or removes a stale .asc
		}
		if err == nil {
			fmt.Println(id)
		}
		return err
	})
}

// patchOptions reads aci:patch's -name and -labels; one must change
// something.
func patchOptions(name, labels string) (aci.PatchOptions, error) {
	l, err := aci.ParseLabelEdits("-labels", labels)
	if err == nil && name == "" && len(l) == 0 {
		err = fmt.Errorf("aci:patch: nothing to change: give -name=NAME and/or -labels=k=v,...")
	}
	return aci.PatchOptions{Name: name, Labels: l}, err
}

func init() { registerBench("aci") }

// benchSources are the host directories the ACI benchmark tree is copied
// from, with a byte budget each: real distribution files (many small ones
// from /usr/share, executables, large shared libraries), like a
// debootstrap rootfs.
var benchSources = []struct {
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

const benchMinBytes = 150e6

// Aci times ACI packing at two gzip levels against actool build.
//
// Both levels (the default and level 1) and `actool build` (appc/spec
// v0.8.11) pack the same ≥150 MB tree; `actool validate` must accept our
// outputs; sizes are compared too.
//
// Usage: mage bench:aci  (or ACI_BENCH_ROOTFS=DIR mage bench:aci)
//
// The tree (real files copied from the host's /usr: many small files, big
// libraries, symlinks, plus hardlinks; no device nodes, on which actool
// hangs) is generated once under S1B_BUILD_DIR/bench/aci and reused.
// ACI_BENCH_ROOTFS=DIR benchmarks a copy of an existing rootfs instead (e.g.
// a debootstrap tree; device nodes are left out of the copy). Each packer
// runs BENCH_RUNS times (default 5, interleaved) after a warm-up and the
// best wall time counts; CPU times are printed too, since on a shared
// machine they are steadier. Prints
// `BENCH aci ours=S peer=S ratio=R (actool build)`.
func (Bench) Aci(ctx context.Context) error {
	c, err := load()
	if err != nil {
		return err
	}
	base, err := filepath.Abs(filepath.Join(c.BuildDir, "bench", "aci"))
	if err != nil {
		return err
	}
	layout := filepath.Join(base, "layout")
	if step.IsDryRun() {
		step.Summaryf("bench:aci: would pack %s with rktbuild and actool", layout)
		return nil
	}
	actool := filepath.Join(base, "actool")
	if err := step.Run(ctx, "go", "build", "-o", actool, "github.com/appc/spec/actool"); err != nil {
		return fmt.Errorf("bench:aci: building actool from the pinned appc/spec module: %w", err)
	}
	if src := os.Getenv("ACI_BENCH_ROOTFS"); src != "" {
		layout = filepath.Join(base, "rootfs-layout")
		if err := benchLayoutFrom(ctx, src, layout); err != nil {
			return fmt.Errorf("bench:aci: ACI_BENCH_ROOTFS=%s: %w", src, err)
		}
	} else if _, err := os.Stat(filepath.Join(layout, "manifest")); err != nil {
		step.Summaryf("bench:aci: generating the benchmark tree in %s", layout)
		if err := step.ReplaceDir(layout, makeBenchTree); err != nil {
			return fmt.Errorf("bench:aci: generating %s: %w", layout, err)
		}
	}
	st, err := treeStats(filepath.Join(layout, "rootfs"))
	if err != nil {
		return err
	}
	step.Summaryf("bench:aci: tree %s: %.0f MB in %d files, %d dirs, %d symlinks, %d hardlinks",
		layout, float64(st.bytes)/1e6, st.files, st.dirs, st.symlinks, st.hardlinks)
	if st.bytes < benchMinBytes {
		return fmt.Errorf("bench:aci: tree %s holds only %.0f MB, need ≥150 MB: remove it and rerun", layout, float64(st.bytes)/1e6)
	}
	ours := filepath.Join(base, "ours.aci")
	fast := filepath.Join(base, "ours-fast.aci")
	peer := filepath.Join(base, "actool.aci")
	opts := aci.PackOptions{Epoch: 1700000000, HasEpoch: true}
	fastOpts := opts
	fastOpts.Level = aci.FastLevel
	if _, err := aci.Pack(ctx, layout, ours, opts); err != nil { // warm-up
		return err
	}
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		rounds = v
	}
	best := func(d, cur float64) float64 {
		if cur == 0 || d < cur {
			return d
		}
		return cur
	}
	// Wall time is what counts; CPU time (user+system) is reported too,
	// because on a shared machine it is steadier. Both of our levels and
	// actool run interleaved in each round, so each ratio comes from the
	// same run.
	var tOurs, tFast, tPeer, cOurs, cFast, cPeer float64
	packTimed := func(out string, o aci.PackOptions, t, c *float64) error {
		start, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		if _, err := aci.Pack(ctx, layout, out, o); err != nil {
			return err
		}
		*t = best(time.Since(start).Seconds(), *t)
		*c = best(cpuSeconds(syscall.RUSAGE_SELF)-c0, *c)
		return nil
	}
	for i := 0; i < rounds; i++ {
		start, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_CHILDREN)
		if err := step.Run(ctx, actool, "build", "--overwrite", layout, peer); err != nil {
			return fmt.Errorf("bench:aci: actool build: %w", err)
		}
		tPeer = best(time.Since(start).Seconds(), tPeer)
		cPeer = best(cpuSeconds(syscall.RUSAGE_CHILDREN)-c0, cPeer)
		if err := packTimed(ours, opts, &tOurs, &cOurs); err != nil {
			return err
		}
		if err := packTimed(fast, fastOpts, &tFast, &cFast); err != nil {
			return err
		}
		step.Logf(ctx, "round %d: best so far: ours level %d %.2fs, level %d %.2fs, actool %.2fs", i+1, aci.DefaultLevel, tOurs, aci.FastLevel, tFast, tPeer)
	}
	for _, f := range []string{ours, fast} {
		if out, err := step.Output(ctx, actool, "validate", f); err != nil {
			return fmt.Errorf("bench:aci: actool validate rejects our output %s: %w\n%s", f, err, out)
		}
		if err := aci.Validate(f); err != nil {
			return err
		}
	}
	so, _ := os.Stat(ours)
	sf, _ := os.Stat(fast)
	sp, _ := os.Stat(peer)
	step.Summaryf("bench:aci: actool validate accepts both outputs; actool %.1f MB (stdlib gzip level 6)", float64(sp.Size())/1e6)
	for _, l := range []struct {
		level      int
		size       int64
		wall, cpus float64
	}{{aci.DefaultLevel, so.Size(), tOurs, cOurs}, {aci.FastLevel, sf.Size(), tFast, cFast}} {
		step.Summaryf("bench:aci: level %d: %.1f MB = %.3fx actool's size; wall %.2fs vs %.2fs = %.2fx faster; CPU %.2fs vs %.2fs = %.2fx",
			l.level, float64(l.size)/1e6, float64(l.size)/float64(sp.Size()), l.wall, tPeer, tPeer/l.wall, l.cpus, cPeer, cPeer/l.cpus)
	}
	printBench("aci", time.Duration(tOurs*float64(time.Second)), time.Duration(tPeer*float64(time.Second)), "actool build")
	return nil
}

func cpuSeconds(who int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// benchLayoutFrom copies the rootfs src (as root, with cp -a) into
// layout/rootfs without its device nodes, unless layout already holds a copy
// of src.
func benchLayoutFrom(ctx context.Context, src, layout string) error {
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
	step.Summaryf("bench:aci: copying %s into %s (without device nodes: actool build hangs on them)", src, layout)
	err = step.ReplaceDir(layout, func(tmp string) error {
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
		return writeBenchManifest(tmp)
	})
	if err != nil {
		return err
	}
	return step.WriteFileBytes(marker, []byte(src), 0o644)
}

type benchStats struct {
	bytes                                  int64
	files, dirs, symlinks, hardlinks, skip int
}

func treeStats(root string) (benchStats, error) {
	var s benchStats
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

// makeBenchTree copies real files from the host into tmp/rootfs within the
// budgets of benchSources, adds a hardlink for every 50th file, and writes a
// manifest.
func makeBenchTree(tmp string) error {
	rootfs := filepath.Join(tmp, "rootfs")
	n := 0
	seen := map[string]bool{}
	for _, src := range benchSources {
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
				if err := copyRegular(p, dst, fi.Mode().Perm()); err != nil {
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
	return writeBenchManifest(tmp)
}

// writeBenchManifest writes the benchmark image's manifest into dir.
func writeBenchManifest(dir string) error {
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

func copyRegular(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}
