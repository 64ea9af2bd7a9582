package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"time"
)

// The OCI distribution API, read-only, over the static v2/ tree `publish`
// writes (see registry/publish/oci.go): GET and HEAD of /v2/,
// /v2/_catalog, /v2/<name>/tags/list, /v2/<name>/manifests/<tag|digest>,
// /v2/<name>/blobs/<digest> and /v2/<name>/referrers/<digest>, with the
// manifest's own media type, Docker-Content-Digest, range requests and the
// distribution spec's JSON errors. Anything else under /v2/ is
// UNSUPPORTED; pushes get 405.

var (
	repoNameRe = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	digestRe   = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// maxManifest bounds the manifests and lists read into memory.
const maxManifest = 4 << 20

// IsOCIPath reports whether a request path belongs to the OCI API.
func IsOCIPath(p string) bool { return p == "/v2" || strings.HasPrefix(p, "/v2/") }

// ociError writes a distribution-spec error.
func ociError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// serveOCI answers an OCI API request from the web root.
func (h *handler) serveOCI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	p := r.URL.Path
	if p == "/v2" || p == "/v2/" {
		w.Header().Set("Content-Type", "application/json")
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("{}"))
		return
	}
	root, err := os.OpenRoot(resolveRoot(h.root)) // current, per request (serve.go)
	if err != nil {
		ociError(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "web root unavailable")
		return
	}
	defer root.Close()
	if p == "/v2/_catalog" {
		serveJSONFile(w, r, root, "v2/_catalog", "application/json", `{"repositories":[]}`)
		return
	}
	rest := strings.TrimPrefix(p, "/v2/")
	for _, kind := range []string{"/manifests/", "/blobs/", "/referrers/", "/tags/list"} {
		i := strings.LastIndex(rest, kind)
		if i <= 0 {
			continue
		}
		name, ref := rest[:i], rest[i+len(kind):]
		if !repoNameRe.MatchString(name) {
			ociError(w, r, http.StatusNotFound, "NAME_INVALID", fmt.Sprintf("invalid repository name %q", name))
			return
		}
		if _, err := root.Stat(path.Join("v2", name)); err != nil {
			ociError(w, r, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf("repository %s is not published here", name))
			return
		}
		switch kind {
		case "/tags/list":
			if ref != "" {
				break
			}
			serveJSONFile(w, r, root, path.Join("v2", name, "tags", "list"), "application/json", "")
			return
		case "/manifests/":
			h.serveManifest(w, r, root, name, ref)
			return
		case "/blobs/":
			if !digestRe.MatchString(ref) {
				ociError(w, r, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("%q is not a sha256 digest", ref))
				return
			}
			f, err := root.Open(path.Join("v2", name, "blobs", ref))
			if err != nil {
				ociError(w, r, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("blob %s unknown to %s", ref, name))
				return
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil || !fi.Mode().IsRegular() {
				ociError(w, r, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("blob %s unknown to %s", ref, name))
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Docker-Content-Digest", ref)
			w.Header().Set("Cache-Control", "max-age=31536000, immutable")
			http.ServeContent(w, r, "", fi.ModTime(), f)
			return
		case "/referrers/":
			if !digestRe.MatchString(ref) {
				ociError(w, r, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("%q is not a sha256 digest", ref))
				return
			}
			serveJSONFile(w, r, root, path.Join("v2", name, "referrers", ref), "application/vnd.oci.image.index.v1+json",
				`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			return
		}
	}
	ociError(w, r, http.StatusNotFound, "UNSUPPORTED", "this registry serves the read-only pull API only")
}

// serveManifest answers /v2/<name>/manifests/<ref>.
func (h *handler) serveManifest(w http.ResponseWriter, r *http.Request, root *os.Root, name, ref string) {
	if !tagRe.MatchString(ref) && !digestRe.MatchString(ref) {
		ociError(w, r, http.StatusBadRequest, "MANIFEST_INVALID", fmt.Sprintf("%q is neither a tag nor a sha256 digest", ref))
		return
	}
	b, fi, err := readSmall(root, path.Join("v2", name, "manifests", ref))
	if err != nil {
		ociError(w, r, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("manifest %s unknown to %s", ref, name))
		return
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
	if digestRe.MatchString(ref) && ref != digest {
		// A corrupted tree: never serve bytes that do not match.
		ociError(w, r, http.StatusInternalServerError, "MANIFEST_INVALID", fmt.Sprintf("stored manifest %s does not match its digest", ref))
		return
	}
	var mt struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(b, &mt); err != nil || mt.MediaType == "" {
		ociError(w, r, http.StatusInternalServerError, "MANIFEST_INVALID", fmt.Sprintf("stored manifest %s has no media type", ref))
		return
	}
	w.Header().Set("Content-Type", mt.MediaType)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("ETag", `"`+digest+`"`)
	http.ServeContent(w, r, "", fi.ModTime(), bytes.NewReader(b))
}

// serveJSONFile serves a small JSON file of the v2 tree, or empty (when
// not "") for a missing one, else a 404.
func serveJSONFile(w http.ResponseWriter, r *http.Request, root *os.Root, rel, contentType, empty string) {
	b, fi, err := readSmall(root, rel)
	mod := time.Time{}
	switch {
	case err == nil:
		mod = fi.ModTime()
	case empty != "" && errors.Is(err, os.ErrNotExist):
		b = []byte(empty)
	default:
		ociError(w, r, http.StatusNotFound, "NAME_UNKNOWN", "not published here")
		return
	}
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, "", mod, bytes.NewReader(b))
}

func readSmall(root *os.Root, rel string) ([]byte, os.FileInfo, error) {
	f, err := root.Open(rel)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, os.ErrNotExist
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxManifest {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", rel, maxManifest)
	}
	return b, fi, nil
}
