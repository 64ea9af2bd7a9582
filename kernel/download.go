package kernel

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// Download fetches url into dest unless dest exists. It streams into
// dest.part with a progress bar and resumes an interrupted download with a
// Range request (restarting from zero when the server ignores it or the
// partial file is unusable); dest appears only when complete.
func Download(ctx context.Context, client *http.Client, url, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return nil
	}
	if client == nil {
		client = http.DefaultClient
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	part := dest + ".part"
	for attempt := 0; attempt < 2; attempt++ {
		var offset int64
		if fi, err := os.Stat(part); err == nil {
			offset = fi.Size()
		}
		restart, err := fetchInto(ctx, client, url, part, offset)
		if err != nil {
			return fmt.Errorf("downloading %s: %w", url, err)
		}
		if restart {
			if err := os.Remove(part); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		return os.Rename(part, dest)
	}
	return fmt.Errorf("downloading %s: the server rejected resuming twice", url)
}

// fetchInto appends the remainder from offset to part. It returns
// restart=true when the partial file must be discarded.
func fetchInto(ctx context.Context, client *http.Client, url, part string, offset int64) (restart bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
			return true, nil
		}
		flags |= os.O_APPEND
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		return true, nil
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC
		offset = 0
	default:
		return false, fmt.Errorf("HTTP %s", resp.Status)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return false, err
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	p := step.NewProgress(ctx, filepath.Base(part[:len(part)-len(".part")]), total)
	if offset > 0 {
		step.Logf(ctx, "resuming %s at %d bytes", url, offset)
	}
	_, cerr := io.Copy(io.MultiWriter(f, p), resp.Body)
	p.Done()
	if serr := f.Sync(); cerr == nil {
		cerr = serr
	}
	if err := f.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return false, fmt.Errorf("interrupted after a partial download (kept %s to resume): %w", part, cerr)
	}
	return false, nil
}

// decompressTo streams the uncompressed content of a .tar.xz, .tar.gz or
// .tar file into w.
func decompressTo(ctx context.Context, path string, w io.Writer) error {
	switch {
	case strings.HasSuffix(path, ".xz"):
		return step.Cmd{Stdout: w}.Run(ctx, "xz", "--decompress", "--stdout", path)
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		_, err = io.Copy(w, zr)
		return err
	case strings.HasSuffix(path, ".tar"):
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
	return errors.New(path + ": unknown compression (want .tar, .tar.gz or .tar.xz)")
}
