package kernel

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// CCache describes how kernel compiles go through ccache. The zero value
// (Mode "") means "auto": use ccache when it is installed.
type CCache struct {
	// Mode is S1B_CCACHE: auto (use ccache when installed), on (require
	// it), off.
	Mode string
	// Dir is the local cache (CCACHE_DIR), under CACHE_DIR so it survives
	// the build directory being wiped.
	Dir string
	// Remote is ccache's remote_storage value (redis:// or http(s)://
	// URLs, space-separated), derived from S1B_REMOTE_CACHE.
	Remote string
	// LogFile, when set, is ccache's log (CCACHE_LOGFILE): one record per
	// compiler call, which Compiles reads.
	LogFile string
}

// CCacheTool is ccache as the targets declare it (doctor, setup).
const CCacheTool = "ccache"

// ParseCCacheMode checks an S1B_CCACHE value.
func ParseCCacheMode(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return "auto", nil
	case "on", "1", "yes", "true":
		return "on", nil
	case "off", "0", "no", "false":
		return "off", nil
	}
	return "", fmt.Errorf("S1B_CCACHE=%q: expected auto, on or off", s)
}

// RemoteSplit splits S1B_REMOTE_CACHE (space-separated URLs) into ccache's
// remote storage and the step store: redis:// URLs serve ccache only;
// an http(s):// URL serves both, ccache under <url>/ccache and step outputs
// under <url>/steps. At most one http(s) URL may be given.
func RemoteSplit(s string) (ccacheRemote, stepStore string, err error) {
	var cc []string
	for _, f := range strings.Fields(s) {
		u, perr := url.Parse(f)
		if perr != nil || u.Host == "" {
			return "", "", fmt.Errorf("S1B_REMOTE_CACHE: %q is not a URL: use redis://HOST:PORT or http(s)://HOST/PATH", f)
		}
		switch u.Scheme {
		case "redis", "rediss":
			cc = append(cc, f)
		case "http", "https":
			if stepStore != "" {
				return "", "", fmt.Errorf("S1B_REMOTE_CACHE: two HTTP stores (%s, %s): give one", stepStore, f)
			}
			base := strings.TrimRight(f, "/")
			stepStore = base + "/steps"
			cc = append(cc, base+"/ccache")
		default:
			return "", "", fmt.Errorf("S1B_REMOTE_CACHE: %q: scheme %q is not supported: use redis:// or http(s)://", f, u.Scheme)
		}
	}
	return strings.Join(cc, " "), stepStore, nil
}

// resolve returns the compiler command make should use ("ccache gcc")
// and ccache's environment, or "" when ccache is off or, in auto mode,
// not installed.
func (c CCache) resolve(base string) (cc string, env []string, err error) {
	mode, err := ParseCCacheMode(c.Mode)
	if err != nil {
		return "", nil, err
	}
	if mode == "off" {
		return "", nil, nil
	}
	bin, lerr := exec.LookPath("ccache")
	if lerr != nil {
		if mode == "on" {
			return "", nil, fmt.Errorf("S1B_CCACHE=on but ccache is not installed: run `sudo apt-get install ccache` or `go run mage.go setup`")
		}
		return "", nil, nil
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("ccache directory: %w", err)
	}
	env = []string{
		"CCACHE_DIR=" + dir,
		// Paths under the kernel's work directory (src/ and out/ side by
		// side) are hashed relative to it, so two build directories, or a
		// wiped and rebuilt one, share entries.
		"CCACHE_BASEDIR=" + base,
		"CCACHE_NOHASHDIR=1",
		// The source is unpacked and headers (autoconf.h) are generated
		// right before compiling: their times say nothing, contents count.
		"CCACHE_SLOPPINESS=include_file_mtime,include_file_ctime,time_macros,locale",
		"CCACHE_COMPILERCHECK=content",
		"CCACHE_MAXSIZE=5G",
		// Depend mode: kbuild always passes -Wp,-MMD, so ccache can take
		// the include list from the compiler's own dependency file instead
		// of running the preprocessor first. On a cold build of kernel/,
		// mm/, fs/ and lib/ (6.12, -j2) that cut ccache's cost over plain
		// gcc from 36% to 3%; hits, also from another build directory,
		// are unchanged.
		"CCACHE_DEPEND=1",
	}
	if c.Remote != "" {
		env = append(env, "CCACHE_REMOTE_STORAGE="+c.Remote)
	}
	if c.LogFile != "" {
		env = append(env, "CCACHE_LOGFILE="+c.LogFile)
	}
	return bin + " gcc", env, nil
}

// CCacheStats reads ccache's counters from dir: hits (local and remote),
// misses (real compiler invocations) and uncacheable calls (which also run
// the compiler, e.g. linking or assembling without preprocessing).
type CCacheStats struct {
	Hits, RemoteHits, Misses, Uncacheable, RemoteErrors int
}

// ReadCCacheStats runs `ccache --print-stats` on the cache in dir.
func ReadCCacheStats(ctx context.Context, dir string) (CCacheStats, error) {
	cmd := exec.CommandContext(ctx, "ccache", "--print-stats")
	cmd.Env = append(os.Environ(), "CCACHE_DIR="+dir)
	out, err := cmd.Output()
	if err != nil {
		return CCacheStats{}, fmt.Errorf("ccache --print-stats (CCACHE_DIR=%s): %w", dir, err)
	}
	return parseCCacheStats(string(out)), nil
}

// ZeroCCacheStats resets the counters of the cache in dir.
func ZeroCCacheStats(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "ccache", "--zero-stats")
	cmd.Env = append(os.Environ(), "CCACHE_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ccache --zero-stats (CCACHE_DIR=%s): %w: %s", dir, err, out)
	}
	return nil
}

// parseCCacheStats reads `ccache --print-stats` (tab-separated key and
// value lines, ccache ≥ 4.0).
func parseCCacheStats(s string) CCacheStats {
	var st CCacheStats
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch k {
		case "direct_cache_hit", "preprocessed_cache_hit":
			st.Hits += n
		case "remote_storage_hit":
			st.RemoteHits += n
		case "remote_storage_error", "remote_storage_timeout":
			st.RemoteErrors += n
		case "cache_miss":
			st.Misses += n
		case "autoconf_test", "bad_compiler_arguments", "called_for_link", "called_for_preprocessing",
			"compiler_produced_no_output", "multiple_source_files", "no_input_file",
			"unsupported_code_directive", "unsupported_compiler_option", "unsupported_source_language",
			"could_not_use_precompiled_header", "could_not_use_modules", "compiler_produced_empty_output",
			"output_to_stdout", "preprocessor_error", "compile_failed":
			st.Uncacheable += n
		}
	}
	return st
}

// Compile is one compiler call that ccache could not answer from a
// cache: its source file and object file (-o) as the log names them.
type Compile struct {
	Source, Object string
}

// InTools reports whether the object belongs to the kernel's tools/ tree
// (objtool, libsubcmd, their fixdep): programs the build runs, built by
// tools/'s own Makefiles with absolute -Wp,-MT paths, which ccache hashes
// as given (CCACHE_BASEDIR does not rewrite them), so another build
// directory compiles them again. Kernel objects are named relative to
// the build directory and hit.
func (c Compile) InTools() bool { return strings.Contains(c.Object, "/tools/") }

// Compiles reads a ccache log (CCACHE_LOGFILE) and returns the calls that
// reached the real compiler (result "cache_miss"). Compiler probes on
// /dev/null are left out: the kernel's Kconfig and Makefiles run a few on
// every make (`-Wa,--version … /dev/null -o /dev/null`, or an output in a
// per-run temporary directory) and no cache can answer them, so they say
// nothing about whether a kernel file was compiled. ccache's own miss
// counter includes them.
func Compiles(log string) []Compile {
	calls := map[string]*Compile{} // pid -> its current call
	var out []Compile
	for _, l := range strings.Split(log, "\n") {
		// [TIME PID] Key: value (the PID may be padded: "[TIME 812 ]")
		_, rest, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		pid, msg, ok := strings.Cut(rest, "] ")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(msg, "Command line: "):
			c := &Compile{}
			args := strings.Fields(strings.TrimPrefix(msg, "Command line: "))
			for i, a := range args {
				if a == "-o" && i+1 < len(args) {
					c.Object = args[i+1]
				}
			}
			calls[pid] = c
		case strings.HasPrefix(msg, "Source file: "):
			if c := calls[pid]; c != nil {
				c.Source = strings.TrimPrefix(msg, "Source file: ")
			}
		case msg == "Result: cache_miss":
			if c := calls[pid]; c != nil && c.Source != "" && c.Source != "/dev/null" {
				out = append(out, *c)
			}
		}
	}
	return out
}
