package recipes

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/step"
)

// RepoEntry is one line of a repo list.
type RepoEntry struct {
	Line   int
	Target string // IMPORT/PATH[@VERSION], a git URL, or a local directory
	// Local is the absolute source directory for a local entry.
	Local string
}

// IsLocal reports whether a repo-list target names a local directory.
func IsLocal(target string) bool {
	return strings.HasPrefix(target, "/") || strings.HasPrefix(target, "./") || strings.HasPrefix(target, "../") || target == "."
}

var targetRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~+:/@-]*$`)

// ParseRepoList reads a repo list: one target per line, '#' starts a
// comment, blank lines are ignored. Local directory entries are resolved
// relative to baseDir and must exist. name is used in errors.
func ParseRepoList(r io.Reader, name, baseDir string) ([]RepoEntry, error) {
	var out []RepoEntry
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: %q: one target per line (IMPORT/PATH[@VERSION], a git URL or a ./directory)", name, n, line)
		}
		e := RepoEntry{Line: n, Target: line}
		if IsLocal(line) {
			p := line
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("%s:%d: local source %s is not a directory", name, n, abs)
			}
			e.Local = abs
		} else if !targetRe.MatchString(line) {
			return nil, fmt.Errorf("%s:%d: %q is not an import path, git URL or local directory", name, n, line)
		}
		if prev, dup := seen[line]; dup {
			return nil, fmt.Errorf("%s:%d: %s is already listed on line %d", name, n, line, prev)
		}
		seen[line] = n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no targets: add one IMPORT/PATH[@VERSION] per line", name)
	}
	return out, nil
}

// ReadRepoList reads and parses the repo list file.
func ReadRepoList(file string) ([]RepoEntry, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("repo list: %w (set REPO_LIST or pass -file)", err)
	}
	defer f.Close()
	return ParseRepoList(f, file, filepath.Dir(file))
}

// BinDir is where an entry's artifacts go: binsDir/<entry>, with anything
// that is not safe in a path replaced.
func BinDir(binsDir string, e RepoEntry) string {
	t := e.Target
	if e.Local != "" {
		t = filepath.Base(e.Local)
	}
	if i := strings.Index(t, "://"); i >= 0 {
		t = t[i+3:]
	}
	t = strings.TrimSuffix(t, ".git")
	var parts []string
	for _, p := range strings.Split(t, "/") {
		p = strings.Map(func(r rune) rune {
			if r == ':' {
				return '_'
			}
			return r
		}, p)
		if p == "" || p == "." || p == ".." {
			continue
		}
		parts = append(parts, p)
	}
	return filepath.Join(append([]string{binsDir}, parts...)...)
}

// RepoResult is one row of the repo-build table.
type RepoResult struct {
	Entry     RepoEntry
	Err       error
	Duration  time.Duration
	Artifacts []string
}

// RepoBuild describes a repo-list build.
type RepoBuild struct {
	Runner  *nspawn.Runner
	Builder *image.Rendered // the rendered Go builder image
	BinsDir string
	// ModCache and GoCache are host directories shared by all builds (the
	// Go module and build caches): a re-run downloads nothing.
	ModCache, GoCache string
	// Env is passed to every build (GOPROXY, GOFLAGS, BUILD_BRANCH, ...).
	Env []string
	// Jobs is how many builds run at once.
	Jobs int
	// CAFile, when set, is a host CA bundle bound read-only into every
	// build (HostCAPath) and named by SSL_CERT_FILE and GIT_SSL_CAINFO, so
	// builds trust what the host trusts (e.g. a TLS-inspecting proxy).
	CAFile string
	// Offline builds with no network at all, from the module cache only
	// (GOPROXY is pointed at the cache's download directory): proof that
	// a re-run downloads nothing, and builds where there is no network.
	Offline bool
}

// OfflineGOPROXY serves modules from the builder's module cache.
const OfflineGOPROXY = "file:///go/pkg/mod/cache/download"

// HostCAPath is where a host CA bundle is bound inside builds.
const HostCAPath = "/etc/ssl/rktbuild-host-ca.crt"

// HostCAFile returns the host's $SSL_CERT_FILE when it names a file.
func HostCAFile() string {
	f := os.Getenv("SSL_CERT_FILE")
	if f == "" {
		return ""
	}
	if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return f
}

// PassThroughEnv are the host variables a repo build passes on.
var PassThroughEnv = []string{"GOPROXY", "GOFLAGS", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOINSECURE", "GOSUMDB", "GOTOOLCHAIN", "BUILD_BRANCH", "CGO_ENABLED"}

// HostEnv returns the PassThroughEnv variables that are set on the host.
func HostEnv() []string {
	var env []string
	for _, k := range PassThroughEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Run builds every entry, rb.Jobs at a time. A failing entry does not
// stop the others. Artifacts of an entry replace binsDir/<entry> only when
// its build succeeded.
func (rb RepoBuild) Run(ctx context.Context, entries []RepoEntry) []RepoResult {
	jobs := max(rb.Jobs, 1)
	results := make([]RepoResult, len(entries))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = RepoResult{Entry: e, Err: context.Cause(ctx)}
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			arts, err := rb.one(ctx, e)
			results[i] = RepoResult{Entry: e, Err: err, Duration: time.Since(start), Artifacts: arts}
		}()
	}
	wg.Wait()
	return results
}

func (rb RepoBuild) one(ctx context.Context, e RepoEntry) ([]string, error) {
	ctx = step.WithName(ctx, e.Target)
	for _, d := range []string{rb.ModCache, rb.GoCache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var arts []string
	final := BinDir(rb.BinsDir, e)
	err := fsutil.ReplaceDir(final, func(tmp string) error {
		a := image.App{Env: append([]string{"GOMODCACHE=/go/pkg/mod", "GOCACHE=/root/.cache/go-build"}, rb.Env...)}
		if rb.CAFile != "" {
			a.Env = append(a.Env, "SSL_CERT_FILE="+HostCAPath, "GIT_SSL_CAINFO="+HostCAPath)
		}
		if rb.Offline {
			a.Env = append(a.Env, "GOPROXY="+OfflineGOPROXY)
		}
		if e.Local == "" {
			a.Args = []string{e.Target}
		}
		o, err := image.RunOptions(rb.Builder, a)
		if err != nil {
			return err
		}
		o.Binds = append(o.Binds,
			nspawn.Bind{Source: tmp, Target: "/go/bin"},
			nspawn.Bind{Source: rb.ModCache, Target: "/go/pkg/mod"},
			nspawn.Bind{Source: rb.GoCache, Target: "/root/.cache/go-build"},
		)
		if e.Local != "" {
			o.Binds = append(o.Binds, nspawn.Bind{Source: e.Local, Target: "/build"})
		}
		if rb.CAFile != "" {
			o.Binds = append(o.Binds, nspawn.Bind{Source: rb.CAFile, Target: HostCAPath, ReadOnly: true})
		}
		o.PrivateNetwork = rb.Offline
		o.Live = true
		if err := rb.Runner.Run(ctx, o); err != nil {
			return err
		}
		ents, err := os.ReadDir(tmp)
		if err != nil {
			return err
		}
		for _, de := range ents {
			arts = append(arts, de.Name())
		}
		if len(arts) == 0 {
			return fmt.Errorf("the build succeeded but put nothing into /go/bin")
		}
		return nil
	})
	if err != nil {
		removeEmptyParents(filepath.Dir(final), rb.BinsDir)
		return nil, fmt.Errorf("building %s (line %d): %w", e.Target, e.Line, err)
	}
	sort.Strings(arts)
	return arts, nil
}

// removeEmptyParents removes dir and its parents up to (not including)
// stop while they are empty, so a failed build leaves no trace.
func removeEmptyParents(dir, stop string) {
	stop = filepath.Clean(stop)
	for d := filepath.Clean(dir); d != stop && strings.HasPrefix(d, stop+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// WriteTable prints the results as a table and returns an error naming the
// failed entries, if any.
func WriteTable(w io.Writer, rs []RepoResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tRESULT\tDURATION\tARTIFACTS")
	var failed []string
	for _, r := range rs {
		res := "ok"
		if r.Err != nil {
			res = "FAILED"
			failed = append(failed, r.Entry.Target)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Entry.Target, res, r.Duration.Round(100*time.Millisecond), strings.Join(r.Artifacts, " "))
	}
	tw.Flush()
	if len(failed) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%d of %d repo builds failed: %s", len(failed), len(rs), strings.Join(failed, ", "))
		for _, r := range rs {
			if r.Err != nil {
				fmt.Fprintf(&b, "\n  %v", r.Err)
			}
		}
		return fmt.Errorf("%s", b.String())
	}
	return nil
}
