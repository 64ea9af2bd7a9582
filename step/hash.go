package step

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
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

var hc = struct {
	sync.Mutex
	loaded bool
	dirty  bool
	m      map[string]cacheEntry
	// dirs maps a directory recorded as a step output to its identity
	// (inode, mtime, ctime of the directory itself) and tree hash.
	dirs map[string]cacheEntry
}{}

type cacheFile struct {
	Files map[string]cacheEntry `json:"files"`
	Dirs  map[string]cacheEntry `json:"dirs"`
}

func hashCachePath() string { return filepath.Join(DefaultStampDir, "hashcache.json") }

func loadHashCache() {
	if hc.loaded {
		return
	}
	hc.loaded = true
	var cf cacheFile
	if data, err := os.ReadFile(hashCachePath()); err == nil {
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
func saveHashCache() {
	hc.Lock()
	defer hc.Unlock()
	if !hc.dirty || IsDryRun() {
		return // a dry run writes nothing, not even the cache
	}
	data, err := json.Marshal(cacheFile{Files: hc.m, Dirs: hc.dirs})
	if err != nil {
		return
	}
	if err := os.MkdirAll(DefaultStampDir, 0o755); err != nil {
		return
	}
	if fsutil.WriteFileBytes(hashCachePath(), data, 0o644) == nil {
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

// hashFile returns the hex sha256 of a regular file's content, using the
// cache when the file's identity is unchanged.
func hashFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return hashRegular(path, fi, true)
}

// hashRegular hashes a file's content, answering from the cache when the
// file's identity is unchanged; store says whether to add new entries
// (directory walks only consult the cache, so large output trees do not
// bloat it).
func hashRegular(path string, fi fs.FileInfo, store bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	k := keyOf(fi)
	hc.Lock()
	loadHashCache()
	if e, ok := hc.m[abs]; ok && e.Key == k {
		hc.Unlock()
		return e.Hash, nil
	}
	hc.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
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
func hashPath(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return hashEntry(path, fi, true)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	hc.Lock()
	loadHashCache()
	e, ok := hc.dirs[abs]
	hc.Unlock()
	if ok && e.Key == keyOf(fi) && !VerifyOutputs() {
		return e.Hash, nil
	}
	return walkHash(path)
}

// VerifyOutputs reports whether directory outputs are verified by content
// (VERIFY_OUTPUTS=1): every recorded tree is walked and hashed again, so a
// file edited in place inside an output tree makes its step run again.
// Without it a directory output is checked by the identity of its top
// directory, which catches replacement and removal but not in-place edits.
func VerifyOutputs() bool { return os.Getenv("VERIFY_OUTPUTS") == "1" }

// recordDir hashes a directory a step has just produced and remembers the
// hash under the directory's identity. Step outputs are replaced as a whole
// (ReplaceDir gives every rebuild a new inode), so later checks compare the
// identity instead of walking the tree again.
func recordDir(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	sum, err := walkHash(path)
	if err != nil {
		return "", err
	}
	hc.Lock()
	loadHashCache()
	hc.dirs[abs] = cacheEntry{Key: keyOf(fi), Hash: sum}
	hc.dirty = true
	hc.Unlock()
	return sum, nil
}

// rememberDir records the identity of a directory output whose walked hash
// was just found to match its stamp, so the next check need not walk it.
func rememberDir(path, sum string) {
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
	loadHashCache()
	if e, ok := hc.dirs[abs]; ok && e.Key == keyOf(fi) && e.Hash == sum {
		return
	}
	hc.dirs[abs] = cacheEntry{Key: keyOf(fi), Hash: sum}
	hc.dirty = true
}

func walkHash(path string) (string, error) {
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
		eh, err := hashEntry(p, fi, false)
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

func hashEntry(p string, fi fs.FileInfo, store bool) (string, error) {
	mode := fi.Mode()
	switch {
	case mode.IsRegular():
		s, err := hashRegular(p, fi, store)
		return fmt.Sprintf("f%o:%s", mode.Perm(), s), err
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
