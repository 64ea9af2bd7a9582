// Package remotecache keeps step outputs in a remote HTTP(S) store that
// CI runners share, keyed by the step's input hash. It speaks plain GET
// and PUT (any WebDAV-style server, an object store's HTTP endpoint, or
// ccache's own HTTP backend layout), so no cache server of our own is
// needed.
//
// Layout under the base URL:
//
//	ref/<key>            the hex SHA-256 of the archive stored for key
//	blob/<sha256>.tar.gz the archive, content-addressed
//
// Get checks the archive's SHA-256 against the ref while downloading and
// refuses (deleting nothing remote, using nothing local) on a mismatch.
package remotecache

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	gzip "github.com/klauspost/pgzip"
)

// Store is a remote step store at Base (http:// or https://).
type Store struct {
	Base   string
	Client *http.Client
}

// New checks base and returns a store; client nil means a client with a
// 10-minute overall timeout.
func New(base string, client *http.Client) (*Store, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote cache %q: expected an http:// or https:// URL", base)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	return &Store{Base: strings.TrimRight(base, "/"), Client: client}, nil
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Key hashes named parts into a store key (hex SHA-256): the step name
// and its input hashes, in a fixed order.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ErrMismatch is returned (wrapped) when a downloaded archive does not
// have the SHA-256 its ref names.
var ErrMismatch = errors.New("remote cache archive does not match its SHA-256")

func (s *Store) do(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Base+"/"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote cache %s %s: %w", method, req.URL.Redacted(), err)
	}
	return resp, nil
}

// Get downloads the archive stored for key and unpacks it into dir, which
// must not exist yet (it is created through a temporary sibling and a
// rename, so it appears complete or not at all). It returns false, nil
// when the store has no entry for key.
func (s *Store) Get(ctx context.Context, key, dir string) (bool, error) {
	resp, err := s.do(ctx, http.MethodGet, "ref/"+key, nil, 0)
	if err != nil {
		return false, err
	}
	ref, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK || err != nil {
		return false, fmt.Errorf("remote cache GET %s/ref/%s: %s", s.Base, key, resp.Status)
	}
	sum := strings.TrimSpace(string(ref))
	if !hexRE.MatchString(sum) {
		return false, fmt.Errorf("remote cache %s/ref/%s: %q is not a SHA-256", s.Base, key, sum)
	}
	resp, err = s.do(ctx, http.MethodGet, "blob/"+sum+".tar.gz", nil, 0)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("remote cache GET %s/blob/%s.tar.gz: %s", s.Base, sum, resp.Status)
	}
	// Download to a temporary file first: nothing is unpacked before the
	// whole archive matched its hash.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(filepath.Dir(dir), ".remotecache-*.tar.gz")
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return false, fmt.Errorf("remote cache GET %s/blob/%s.tar.gz: %w", s.Base, sum, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return false, fmt.Errorf("%w: %s/blob/%s.tar.gz has SHA-256 %s (not used)", ErrMismatch, s.Base, sum, got)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := untar(f, tmp); err != nil {
		return false, fmt.Errorf("remote cache archive %s: %w", sum, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return false, err
	}
	return true, nil
}

// Put packs dir into an archive and stores it for key: the blob first,
// then the ref, so a reader never sees a ref without its blob.
func (s *Store) Put(ctx context.Context, key, dir string) error {
	f, err := os.CreateTemp("", "remotecache-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if err := writeTar(io.MultiWriter(f, h), dir); err != nil {
		return fmt.Errorf("remote cache: packing %s: %w", dir, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := s.put(ctx, "blob/"+sum+".tar.gz", f, size); err != nil {
		return err
	}
	return s.put(ctx, "ref/"+key, strings.NewReader(sum+"\n"), int64(len(sum)+1))
}

func (s *Store) put(ctx context.Context, path string, body io.Reader, size int64) error {
	resp, err := s.do(ctx, http.MethodPut, path, body, size)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("remote cache PUT %s/%s: %s", s.Base, path, resp.Status)
	}
	return nil
}

// writeTar writes dir's regular files, directories and symlinks as a
// gzip tar with fixed owners and times (the archive is a cache entry:
// only contents and modes matter).
func writeTar(w io.Writer, dir string) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return fmt.Errorf("%s: not a file, directory or symlink", p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// untar unpacks an archive written by writeTar into dir, refusing entries
// that would land outside it.
func untar(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(hdr.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q escapes the destination", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, hdr.FileInfo().Mode().Perm()|0o700); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, hdr.FileInfo().Mode().Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q: unsupported type %q", hdr.Name, hdr.Typeflag)
		}
	}
}
