package recipes

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/appc/spec/schema/types"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/registry/store"
)

// Locator finds images the way rkt does: by file, by name (with labels)
// or by ID, among the images recipes wrote (S1B_ACI_DIR, S1B_OUT_DIR)
// and the content-addressed store that `mage fetch` fills (STORE_DIR,
// blobs under cas/blob/sha512/). It is the one place `mage run` and
// dependency rendering resolve images.
type Locator struct {
	// Dirs hold .aci files written by recipes and stage1 builds,
	// searched in order.
	Dirs []string
	// StoreDir is the image store; "" means none.
	StoreDir string
}

// NewLocator returns the locator of the settings: ACIDir, OutDir, StoreDir.
func NewLocator(s *Settings) Locator {
	var dirs []string
	for _, d := range []string{s.ACIDir, s.OutDir} {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return Locator{Dirs: dirs, StoreDir: s.StoreDir}
}

// store opens the store when it exists (a locator never creates one).
func (l Locator) store() *store.Store {
	if l.StoreDir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(l.StoreDir, "cas")); err != nil {
		return nil
	}
	return &store.Store{Dir: l.StoreDir}
}

// Files lists the .aci files under Dirs, directory by directory, each
// directory's files sorted by path; hidden files and directories (a
// leading ".", e.g. temporary files of an atomic write) are skipped, and a
// directory that does not exist holds no images. Publish takes these as
// its images; find searches them in this order.
func (l Locator) Files() ([]string, error) {
	var out []string
	for _, d := range l.Dirs {
		var files []string
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == d {
					return filepath.SkipDir
				}
				return err
			}
			if p != d && strings.HasPrefix(e.Name(), ".") {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".aci") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("looking for images in %s: %w", d, err)
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// find returns the first .aci file in Dirs whose manifest matches r.
func (l Locator) find(r aci.Ref) string {
	files, _ := l.Files() // an unreadable directory holds nothing found
	for _, f := range files {
		m, err := aci.ReadManifest(f) // the manifest alone: no full pass per candidate
		if err == nil && r.Matches(m.Name.String(), aci.LabelMap(m.Labels)) {
			return f
		}
	}
	return ""
}

// Image resolves NAME[:VERSION][,label=value...] or an image ID
// (sha512-…, at least 8 hex digits, from the store) to an ACI file:
// recipe outputs first, then the newest matching stored image.
func (l Locator) Image(ref string) (string, error) {
	if !strings.HasPrefix(ref, "sha512-") {
		r, err := aci.ParseRef(ref)
		if err != nil {
			return "", err
		}
		if f := l.find(r); f != "" {
			return f, nil
		}
	}
	s := l.store()
	if s == nil {
		return "", fmt.Errorf("no image %q in %s, and no image store at STORE_DIR=%q: build it, or fetch it with `mage fetch %s`", ref, strings.Join(l.Dirs, ", "), l.StoreDir, ref)
	}
	im, err := s.Resolve(ref)
	if err != nil {
		return "", fmt.Errorf("no image %q in %s: %w", ref, strings.Join(l.Dirs, ", "), err)
	}
	f := s.BlobPath(im.ID)
	if _, err := os.Stat(f); err != nil {
		return "", fmt.Errorf("store: %s is in the index but its blob %s is missing: fetch it again", im.ID, f)
	}
	return f, nil
}

// Finder returns the dependency finder for rendering: the first image in
// Dirs whose name and labels match the dependency, else the newest such
// image in the store.
func (l Locator) Finder() image.Finder {
	return func(dep types.Dependency) (string, error) {
		r := aci.Ref{Name: dep.ImageName.String(), Labels: aci.LabelMap(dep.Labels)}
		labels := r.Labels
		if f := l.find(r); f != "" {
			return f, nil
		}
		if s := l.store(); s != nil {
			im, ok, err := s.Find(dep.ImageName.String(), labels)
			if err != nil {
				return "", err
			}
			if ok {
				return s.BlobPath(im.ID), nil
			}
		}
		return "", fmt.Errorf("dependency %s %v not found in %s nor in the store %s: fetch it first (mage fetch %s)", dep.ImageName, labels, strings.Join(l.Dirs, ", "), l.StoreDir, dep.ImageName)
	}
}
