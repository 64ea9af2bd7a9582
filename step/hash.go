package step

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/rktbuild/rktbuild/internal/fsutil"
)

// The hash cache maps a file's identity (size, mtime, ctime, inode) to its
// content hash, so an unchanged tree is checked with stat calls only.
type fileKey struct {
	Size  int64  `json:"s"`
	Mtime int64  `json:"m"`
	Ctime int64  `json:"c"`
	Ino   uint64 `json:"i"`
}

type cacheEntry struct {
	Key  fileKey `json:"k"`
	Hash string  `json:"h"`
}

// hashCache is a session's cache of file and directory hashes.
type hashCache struct {
	sync.Mutex
	loaded bool
	dirty  bool
	m      map[string]cacheEntry
	// dirs maps a directory recorded as a step output to its identity
	// (inode, mtime, ctime of the directory itself) and tree hash.
	dirs map[string]cacheEntry
}

type cacheFile struct {
	Files map[string]cacheEntry `json:"files"`
	Dirs  map[string]cacheEntry `json:"dirs"`
}

func (s *Session) hashCachePath() string { return filepath.Join(s.StampDir, "hashcache.json") }

func (s *Session) loadHashCache() {
	hc := &s.hc
	if hc.loaded {
		return
	}
	hc.loaded = true
	var cf cacheFile
	if data, err := os.ReadFile(s.hashCachePath()); err == nil {
		_ = json.Unmarshal(data, &cf)
	}
	hc.m, hc.dirs = cf.Files, cf.Dirs
	if hc.m == nil {
		hc.m = map[string]cacheEntry{}
	}
	if hc.dirs == nil {
		hc.dirs = map[string]cacheEntry{}
	}
}

// saveHashCache persists the cache; losing it only costs re-hashing.
func (s *Session) saveHashCache() {
	hc := &s.hc
	hc.Lock()
	defer hc.Unlock()
	if !hc.dirty || s.DryRun {
		return // a dry run writes nothing, not even the cache
	}
	data, err := json.Marshal(cacheFile{Files: hc.m, Dirs: hc.dirs})
	if err != nil {
		return
	}
	if err := os.MkdirAll(s.StampDir, 0o755); err != nil {
		return
	}
	if fsutil.WriteFileBytes(s.hashCachePath(), data, 0o644) == nil {
		hc.dirty = false
	}
}

func keyOf(fi fs.FileInfo) fileKey {
	k := fileKey{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Ctime = st.Ctim.Nano()
		k.Ino = st.Ino
	}
	return k
}

// HashFile returns the hex SHA-256 of a file's content through the
// session's hash cache (keyed by the file's identity: inode, size, mtime
// and ctime, kept in the stamp directory across runs), so a large input
// that has not changed costs a stat, not a read, on every no-op run.
func HashFile(ctx context.Context, path string) (string, error) {
	return SessionFrom(ctx).hashFile(path)
}

// hashFile returns the hex sha256 of a regular file's content, using the
// cache when the file's identity is unchanged.
func (s *Session) hashFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return s.hashRegular(path, fi, true)
}

// hashRegular hashes a file's content, answering from the cache when the
// file's identity is unchanged; store says whether to add new entries
// (directory walks only consult the cache, so large output trees do not
// bloat it).
func (s *Session) hashRegular(path string, fi fs.FileInfo, store bool) (string, error) {
	hc := &s.hc
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	k := keyOf(fi)
	hc.Lock()
	s.loadHashCache()
	if e, ok := hc.m[abs]; ok && e.Key == k {
		hc.Unlock()
		return e.Hash, nil
	}
	hc.Unlock()
	sum, err := fsutil.HashFile(path)
	if err != nil {
		return "", err
	}
	if store {
		hc.Lock()
		hc.m[abs] = cacheEntry{Key: k, Hash: sum}
		hc.dirty = true
		hc.Unlock()
	}
	return sum, nil
}

// hashPath hashes a file, a symlink or a directory tree. A directory that
// was recorded as a step output (see recordDir) and still has the same
// identity is answered from the cache without walking it.
func (s *Session) hashPath(path string) (string, error) {
	hc := &s.hc
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return s.hashEntry(path, fi, true)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	hc.Lock()
	s.loadHashCache()
	e, ok := hc.dirs[abs]
	hc.Unlock()
	if ok && e.Key == keyOf(fi) && !s.VerifyOutputs {
		return e.Hash, nil
	}
	return s.walkHash(path)
}

// recordDir hashes a directory a step has just produced and remembers the
// hash under the directory's identity. Step outputs are replaced as a whole
// (ReplaceDir gives every rebuild a new inode), so later checks compare the
// identity instead of walking the tree again.
func (s *Session) recordDir(path string) (string, error) {
	hc := &s.hc
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	sum, err := s.walkHash(path)
	if err != nil {
		return "", err
	}
	hc.Lock()
	s.loadHashCache()
	hc.dirs[abs] = cacheEntry{Key: keyOf(fi), Hash: sum}
	hc.dirty = true
	hc.Unlock()
	return sum, nil
}

// rememberDir records the identity of a directory output whose walked hash
// was just found to match its stamp, so the next check need not walk it.
func (s *Session) rememberDir(path, sum string) {
	hc := &s.hc
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	hc.Lock()
	defer hc.Unlock()
	s.loadHashCache()
	if e, ok := hc.dirs[abs]; ok && e.Key == keyOf(fi) && e.Hash == sum {
		return
	}
	hc.dirs[abs] = cacheEntry{Key: keyOf(fi), Hash: sum}
	hc.dirty = true
}

func (s *Session) walkHash(path string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		eh, err := s.hashEntry(p, fi, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\n", rel, eh)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Session) hashEntry(p string, fi fs.FileInfo, store bool) (string, error) {
	mode := fi.Mode()
	switch {
	case mode.IsRegular():
		sum, err := s.hashRegular(p, fi, store)
		return fmt.Sprintf("f%o:%s", mode.Perm(), sum), err
	case mode&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		return "l:" + t, err
	case mode.IsDir():
		return fmt.Sprintf("d%o", mode.Perm()), nil
	default:
		return fmt.Sprintf("o%v", mode), nil
	}
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// HashValues hashes a set of named values deterministically; use it to
// fold a large option set into one Inputs.Values entry.
func HashValues(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\n", k, m[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}
