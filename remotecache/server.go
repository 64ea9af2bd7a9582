package remotecache

import (
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
)

// DirHandler serves a directory as a GET/PUT/HEAD store: the layout
// Store and ccache's HTTP backend use. It is for tests and a single
// host; a fleet uses any existing server that stores PUT bodies (nginx
// with dav_methods PUT, an object store). PUT bodies are written to a
// temporary file and renamed into place.
func DirHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clean := path.Clean("/" + r.URL.Path)
		p := filepath.Join(dir, filepath.FromSlash(clean))
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			fi, err := os.Stat(p)
			if err != nil || fi.IsDir() {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, p)
		case http.MethodPut:
			if clean == "/" {
				http.Error(w, "PUT needs a path", http.StatusBadRequest)
				return
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, err = io.Copy(f, r.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(f.Name(), p)
			}
			if err != nil {
				os.Remove(f.Name())
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusCreated)
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
