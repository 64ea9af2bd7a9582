// Package store is the content-addressed image store behind `mage fetch` and
// `mage images:*`. It keeps each ACI exactly as it was fetched (so an export
// is byte-identical), keyed by its image ID (sha512 of the uncompressed tar),
// at rkt's blob path:
//
//	DIR/cas/blob/sha512/<first two hex digits>/sha512-<hex>       the ACI
//	DIR/cas/blob/sha512/<first two hex digits>/sha512-<hex>.asc   its signature
//	DIR/index.json                                                name/labels index
//	DIR/tmp/                                                      downloads in progress
//
// The index is replaced atomically (temp file + rename) under an exclusive
// lock, so readers see either the old index or the new one. A blob is only
// moved into place after the caller has verified it; nothing in cas/ is ever
// half-written.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coreos/go-semver/semver"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/fsutil"
)

// Image is one stored image as the index records it.
type Image struct {
	// ID is "sha512-" + hex sha512 of the uncompressed tar.
	ID string `json:"id"`
	// Name is the manifest's name.
	Name string `json:"name"`
	// Labels are the manifest's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Size is the stored (compressed) ACI size in bytes.
	Size int64 `json:"size"`
	// Imported is when the image was stored.
	Imported time.Time `json:"imported"`
	// Source is the URL (or file) it came from.
	Source string `json:"source,omitempty"`
	// Signer names the trusted key that signed it.
	Signer string `json:"signer,omitempty"`
}

// ShortID is the short form of an image ID shown by store:list
// ("sha512-" + 32 hex digits, as rkt shows it).
func (im Image) ShortID() string { return aci.ShortID(im.ID) }

// Store is a content-addressed image store rooted at Dir.
type Store struct{ Dir string }

type index struct {
	Images []Image `json:"images"`
}

// Open creates the store's directories when needed and returns it.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: no directory: set STORE_DIR")
	}
	for _, d := range []string{filepath.Join(dir, "cas", "blob", "sha512"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return &Store{Dir: dir}, nil
}

// ValidID reports whether id has the form sha512-<128 lowercase hex digits>.
func ValidID(id string) bool {
	hex, ok := strings.CutPrefix(id, "sha512-")
	if !ok || len(hex) != 128 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// BlobPath returns where the ACI with the given ID is stored.
func (s *Store) BlobPath(id string) string {
	hex := strings.TrimPrefix(id, "sha512-")
	return filepath.Join(s.Dir, "cas", "blob", "sha512", hex[:2], id)
}

// TempFile creates a file for a download in progress inside the store (same
// file system as the blobs, so Add is a rename).
// The file is locked while open (fsutil.CreateTempLocked): keep it open
// until Add has consumed it. Downloads left by fetches that died are
// removed first.
func (s *Store) TempFile() (*os.File, error) {
	dir := filepath.Join(s.Dir, "tmp")
	if _, err := s.sweepTmp(); err != nil {
		return nil, err
	}
	return fsutil.CreateTempLocked(dir, "fetch-"+strconv.Itoa(os.Getpid())+"-*.aci")
}

// lock takes the store's exclusive lock; the returned func releases it.
func (s *Store) lock() (func(), error) {
	release, err := fsutil.Lock(filepath.Join(s.Dir, "lock"), false)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return release, nil
}

func (s *Store) read() (index, error) {
	var ix index
	data, err := os.ReadFile(filepath.Join(s.Dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return ix, fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(data, &ix); err != nil {
		return ix, fmt.Errorf("store: %s is damaged: %v (remove it and fetch again)", filepath.Join(s.Dir, "index.json"), err)
	}
	return ix, nil
}

func (s *Store) write(ix index) error {
	sort.Slice(ix.Images, func(i, j int) bool {
		a, b := ix.Images[i], ix.Images[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileBytes(filepath.Join(s.Dir, "index.json"), append(data, '\n'), 0o644)
}

// Add moves the verified ACI at tmpPath (created by TempFile) into the store
// under im.ID, writes its signature beside it and records im in the index.
// When the blob is already stored, tmpPath is just removed.
func (s *Store) Add(tmpPath string, sig []byte, im Image) (Image, error) {
	// tmpPath is consumed: moved into place, or removed.
	defer os.Remove(tmpPath)
	if !ValidID(im.ID) {
		return Image{}, fmt.Errorf("store: invalid image ID %q", im.ID)
	}
	unlock, err := s.lock()
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	blob := s.BlobPath(im.ID)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return Image{}, err
	}
	if sig != nil {
		if err := fsutil.WriteFileBytes(blob+".asc", sig, 0o644); err != nil {
			return Image{}, fmt.Errorf("store: %w", err)
		}
	}
	if _, err := os.Stat(blob); err != nil {
		if err := os.Chmod(tmpPath, 0o644); err != nil {
			return Image{}, err
		}
		f, err := os.Open(tmpPath)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return Image{}, err
		}
		if err := os.Rename(tmpPath, blob); err != nil {
			return Image{}, fmt.Errorf("store: %w", err)
		}
	}
	fi, err := os.Stat(blob)
	if err != nil {
		return Image{}, err
	}
	im.Size = fi.Size()
	if im.Imported.IsZero() {
		im.Imported = time.Now().UTC().Truncate(time.Second)
	}
	ix, err := s.read()
	if err != nil {
		return Image{}, err
	}
	out := ix.Images[:0]
	for _, old := range ix.Images {
		if old.ID != im.ID {
			out = append(out, old)
		}
	}
	ix.Images = append(out, im)
	if err := s.write(ix); err != nil {
		return Image{}, fmt.Errorf("store: writing the index: %w", err)
	}
	return im, nil
}

// List returns every stored image, sorted by name then ID.
func (s *Store) List() ([]Image, error) {
	ix, err := s.read()
	return ix.Images, err
}

// Matches reports whether im has name and every one of labels.
func Matches(im Image, name string, labels map[string]string) bool {
	if im.Name != name {
		return false
	}
	for k, v := range labels {
		if im.Labels[k] != v {
			return false
		}
	}
	return true
}

// Newer reports whether a should be preferred over b as "latest": the higher
// version label (semantic versions compared as such), then the later import.
func Newer(a, b Image) bool {
	va, vb := a.Labels["version"], b.Labels["version"]
	if va != vb {
		sa, ea := semver.NewVersion(strings.TrimPrefix(va, "v"))
		sb, eb := semver.NewVersion(strings.TrimPrefix(vb, "v"))
		switch {
		case ea == nil && eb == nil:
			return sb.LessThan(*sa)
		case ea == nil:
			return true
		case eb == nil:
			return false
		}
		return va > vb
	}
	return a.Imported.After(b.Imported)
}

// Find returns the newest stored image with name and labels.
func (s *Store) Find(name string, labels map[string]string) (Image, bool, error) {
	ims, err := s.List()
	if err != nil {
		return Image{}, false, err
	}
	var best Image
	found := false
	for _, im := range ims {
		if Matches(im, name, labels) && (!found || Newer(im, best)) {
			best, found = im, true
		}
	}
	if found {
		if _, err := os.Stat(s.BlobPath(best.ID)); err != nil {
			return Image{}, false, fmt.Errorf("store: %s is in the index but its blob is missing: run `mage store:rm %s` and fetch it again", best.ID, best.ShortID())
		}
	}
	return best, found, nil
}

// Resolve finds one image by ID (full or a prefix of at least "sha512-" and
// 8 hex digits) or by NAME[:VERSION][,label=value...] (newest match).
func (s *Store) Resolve(ref string) (Image, error) {
	ims, err := s.List()
	if err != nil {
		return Image{}, err
	}
	if strings.HasPrefix(ref, "sha512-") {
		if len(ref) < 7+8 {
			return Image{}, fmt.Errorf("image ID %q is too short: give at least sha512- and 8 hex digits", ref)
		}
		var hits []Image
		for _, im := range ims {
			if strings.HasPrefix(im.ID, ref) {
				hits = append(hits, im)
			}
		}
		switch len(hits) {
		case 0:
			return Image{}, fmt.Errorf("no stored image has ID %s: see `mage store:list`", ref)
		case 1:
			return hits[0], nil
		}
		return Image{}, fmt.Errorf("image ID %s is ambiguous (%d images): give more digits", ref, len(hits))
	}
	r, err := aci.ParseRef(ref)
	if err != nil {
		return Image{}, err
	}
	var best Image
	found := false
	for _, im := range ims {
		if r.Matches(im.Name, im.Labels) && (!found || Newer(im, best)) {
			best, found = im, true
		}
	}
	if !found {
		return Image{}, fmt.Errorf("no stored image matches %s: see `mage store:list` or `mage fetch %s`", ref, ref)
	}
	return best, nil
}

// Open opens the stored ACI with the given ID.
func (s *Store) Open(id string) (*os.File, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("store: invalid image ID %q", id)
	}
	return os.Open(s.BlobPath(id))
}

// Export writes the stored ACI for ref to out, byte-identical to what was
// fetched, and its signature to out.asc when one is stored. Both are written
// atomically.
func (s *Store) Export(ref, out string) (Image, error) {
	im, err := s.Resolve(ref)
	if err != nil {
		return Image{}, err
	}
	f, err := s.Open(im.ID)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()
	if err := fsutil.WriteFile(out, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	}); err != nil {
		return Image{}, fmt.Errorf("exporting %s to %s: %w", im.ShortID(), out, err)
	}
	if sig, err := os.ReadFile(s.BlobPath(im.ID) + ".asc"); err == nil {
		if err := fsutil.WriteFileBytes(out+".asc", sig, 0o644); err != nil {
			return Image{}, fmt.Errorf("exporting the signature to %s.asc: %w", out, err)
		}
	}
	return im, nil
}

// Manifest returns the manifest bytes of the stored image ref, as they are
// in the image.
func (s *Store) Manifest(ref string) (Image, []byte, error) {
	im, err := s.Resolve(ref)
	if err != nil {
		return Image{}, nil, err
	}
	if !ValidID(im.ID) {
		return Image{}, nil, fmt.Errorf("store: invalid image ID %q", im.ID)
	}
	data, err := aci.RawManifest(s.BlobPath(im.ID))
	if err != nil {
		return Image{}, nil, fmt.Errorf("reading the manifest of %s: %w", im.ShortID(), err)
	}
	return im, data, nil
}

// Rm removes the images ref names (an ID, or every image matching a name
// reference) from the index, then their blobs.
func (s *Store) Rm(ref string) ([]Image, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ix, err := s.read()
	if err != nil {
		return nil, err
	}
	var drop []Image
	keep := ix.Images[:0:0]
	if strings.HasPrefix(ref, "sha512-") {
		im, err := s.Resolve(ref)
		if err != nil {
			return nil, err
		}
		for _, x := range ix.Images {
			if x.ID == im.ID {
				drop = append(drop, x)
			} else {
				keep = append(keep, x)
			}
		}
	} else {
		r, err := aci.ParseRef(ref)
		if err != nil {
			return nil, err
		}
		for _, x := range ix.Images {
			if r.Matches(x.Name, x.Labels) {
				drop = append(drop, x)
			} else {
				keep = append(keep, x)
			}
		}
	}
	if len(drop) == 0 {
		return nil, fmt.Errorf("no stored image matches %s: see `mage store:list`", ref)
	}
	ix.Images = keep
	if err := s.write(ix); err != nil {
		return nil, err
	}
	for _, im := range drop {
		_ = os.Remove(s.BlobPath(im.ID))
		_ = os.Remove(s.BlobPath(im.ID) + ".asc")
	}
	return drop, nil
}

// Gc removes blobs no index entry refers to and, at once, every download
// in tmp/ whose fetch is gone (its lock is free; see fsutil.SweepStale),
// however recent. Downloads of fetches still running are kept. minAge is
// no longer used (it was the only way to tell a dead download from a live
// one). It returns the removed paths.
func (s *Store) Gc(minAge time.Duration) ([]string, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ix, err := s.read()
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, im := range ix.Images {
		live[s.BlobPath(im.ID)] = true
		live[s.BlobPath(im.ID)+".asc"] = true
	}
	var removed []string
	blobs := filepath.Join(s.Dir, "cas", "blob", "sha512")
	err = filepath.WalkDir(blobs, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !live[p] {
			if err := os.Remove(p); err != nil {
				return err
			}
			removed = append(removed, p)
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("store gc: %w", err)
	}
	ents, _ := os.ReadDir(blobs)
	for _, e := range ents {
		_ = os.Remove(filepath.Join(blobs, e.Name())) // only empty dirs go
	}
	swept, err := s.sweepTmp()
	removed = append(removed, swept...)
	if err != nil {
		return removed, err
	}
	// Entries still locked belong to fetches in progress; anything else
	// older than minAge that the sweep could not take is left for a
	// human (it is reported by the sweep's error).
	_ = minAge
	return removed, nil
}

// sweepTmp removes the downloads in tmp/ whose fetch died.
func (s *Store) sweepTmp() ([]string, error) {
	removed, err := fsutil.SweepStale(filepath.Join(s.Dir, "tmp"), "fetch-*")
	if err != nil {
		return removed, fmt.Errorf("store %s: cleaning tmp/: %w", s.Dir, err)
	}
	return removed, nil
}

// FormatSize formats a byte count for people (B, kB, MB, GB; powers of
// ten, as rkt printed them).
func FormatSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// WriteTable prints images as store:list shows them: short ID, name,
// sorted labels, size and import time (local), one per line, aligned.
func WriteTable(w io.Writer, ims []Image) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tLABELS\tSIZE\tIMPORTED")
	for _, im := range ims {
		var ls []string
		for k, v := range im.Labels {
			ls = append(ls, k+"="+v)
		}
		sort.Strings(ls)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", im.ShortID(), im.Name, strings.Join(ls, ","), FormatSize(im.Size),
			im.Imported.Local().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

// List returns the images of the store at dir without creating it: a
// store that does not exist yet is empty.
func List(dir string) ([]Image, error) {
	if _, err := os.Stat(dir); err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("store: %w", err)
	}
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	return s.List()
}
