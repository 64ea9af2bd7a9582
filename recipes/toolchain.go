package recipes

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// ToolchainModule is the module path the Go project publishes toolchains
// under on the module proxy.
const ToolchainModule = "golang.org/toolchain"

var goVersionRe = regexp.MustCompile(`^1\.[0-9]+(\.[0-9]+|rc[0-9]+|beta[0-9]+)?$`)

// ToolchainVersion returns the module version of Go goVersion for
// linux/goarch, e.g. v0.0.1-go1.26.8.linux-amd64.
func ToolchainVersion(goVersion, goarch string) (string, error) {
	if !goVersionRe.MatchString(goVersion) {
		return "", fmt.Errorf("GO_VERSION=%q is not a Go release such as 1.26.8", goVersion)
	}
	return "v0.0.1-go" + goVersion + ".linux-" + goarch, nil
}

// Toolchain is a Go toolchain fetched (and verified) into the module cache.
type Toolchain struct {
	Version string // module version
	Dir     string // unpacked module: the GOROOT
	Sum     string // h1: hash checked against go.sum / the checksum database
}

// checkVerification refuses settings that would make the go command skip
// the checksum database for the toolchain module.
func checkVerification(env map[string]string) error {
	if strings.TrimSpace(env["GOSUMDB"]) == "off" {
		return fmt.Errorf("GOSUMDB=off: the Go toolchain would not be checked against the checksum database; unset GOSUMDB")
	}
	if strings.Contains(env["GOFLAGS"], "-insecure") {
		return fmt.Errorf("GOFLAGS=%q disables verification; remove -insecure", env["GOFLAGS"])
	}
	for _, k := range []string{"GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GONOSUMCHECK"} {
		if k == "GONOSUMCHECK" {
			if env[k] == "1" {
				return fmt.Errorf("GONOSUMCHECK=1 disables verification of the Go toolchain; unset it")
			}
			continue
		}
		if matchesPattern(env[k], ToolchainModule) {
			return fmt.Errorf("%s=%q covers %s, so it would not be verified; remove that pattern", k, env[k], ToolchainModule)
		}
	}
	return nil
}

// matchesPattern reports whether mod matches any comma-separated glob
// pattern as the go command's GOPRIVATE matching does (a pattern matches a
// path prefix of whole elements).
func matchesPattern(patterns, mod string) bool {
	for _, p := range strings.Split(patterns, ",") {
		p = strings.TrimSuffix(strings.TrimSpace(p), "/")
		if p == "" {
			continue
		}
		n := strings.Count(p, "/") + 1
		elems := strings.Split(mod, "/")
		if len(elems) < n {
			continue
		}
		if ok, _ := path.Match(p, strings.Join(elems[:n], "/")); ok {
			return true
		}
	}
	return false
}

// FetchToolchain downloads Go goVersion for linux/goarch from the
// configured module proxy with `go mod download -json`, which checks it
// against the checksum database, into the module cache modCache.
func FetchToolchain(ctx context.Context, goVersion, goarch, modCache string) (*Toolchain, error) {
	ver, err := ToolchainVersion(goVersion, goarch)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, k := range []string{"GOSUMDB", "GOFLAGS", "GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GONOSUMCHECK"} {
		env[k] = os.Getenv(k)
	}
	if v, err := step.Output(ctx, "go", "env", "GOSUMDB", "GOFLAGS", "GONOSUMDB", "GOPRIVATE", "GOINSECURE"); err == nil {
		lines := strings.Split(v, "\n")
		for i, k := range []string{"GOSUMDB", "GOFLAGS", "GONOSUMDB", "GOPRIVATE", "GOINSECURE"} {
			if i < len(lines) && env[k] == "" {
				env[k] = strings.TrimSpace(lines[i])
			}
		}
	} else {
		return nil, fmt.Errorf("fetching the Go toolchain needs a host go command (install Go or golang-go): %w", err)
	}
	if err := checkVerification(env); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(modCache)
	if err != nil {
		return nil, err
	}
	// Run outside any module so the checkout's go.mod is not involved.
	tmp, err := os.MkdirTemp("", "rktbuild-toolchain-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out strings.Builder
	spec := ToolchainModule + "@" + ver
	step.Summaryf(ctx, "fetching Go %s (%s) through the module proxy", goVersion, spec)
	err = step.Cmd{Dir: tmp, Stdout: &out, Env: []string{
		"GOMODCACHE=" + abs, "GOTOOLCHAIN=local", "GO111MODULE=on", "GOFLAGS=-modcacherw",
	}}.Run(ctx, "go", "mod", "download", "-json", spec)
	var res struct {
		Version, Dir, Sum, Error string
	}
	if jerr := json.Unmarshal([]byte(out.String()), &res); jerr == nil && res.Error != "" {
		return nil, fmt.Errorf("Go toolchain %s: %s (is GO_VERSION=%s a released version?)", spec, res.Error, goVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("Go toolchain %s: %w", spec, err)
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		return nil, fmt.Errorf("Go toolchain %s: reading go mod download output: %w", spec, err)
	}
	if res.Dir == "" || !strings.HasPrefix(res.Sum, "h1:") {
		return nil, fmt.Errorf("Go toolchain %s: go mod download reported no directory or checksum", spec)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "bin", "go")); err != nil {
		return nil, fmt.Errorf("Go toolchain %s: %s has no bin/go", spec, res.Dir)
	}
	return &Toolchain{Version: res.Version, Dir: res.Dir, Sum: res.Sum}, nil
}

// FixToolchainModes makes a toolchain copied from the module cache (where
// files are read-only and zip files carry no execute bits) usable as a
// GOROOT: directories 0755, files 0644, commands in bin/ and pkg/tool/
// 0755.
func FixToolchainModes(goroot string) error {
	return filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		rel, _ := filepath.Rel(goroot, p)
		mode := os.FileMode(0o644)
		switch {
		case d.IsDir():
			mode = 0o755
		case strings.HasPrefix(rel, "bin/"), strings.HasPrefix(rel, "pkg/tool/"):
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}
