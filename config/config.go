// Package config loads rktbuild's configuration: the documented defaults in
// builder-config, overridden by an optional .config file, overridden by the
// environment. The result is a typed Config that records where each value
// came from.
package config

import (
	"bufio"
	"bytes"
	_ "embed" // builder-config is embedded so imported targets have defaults.
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed builder-config
var builderConfig []byte

// DefaultsFile is the name shown for values that come from the defaults.
const DefaultsFile = "config/builder-config"

// UserFile is the optional per-checkout override file.
const UserFile = ".config"

// Config is the effective configuration. Field tags name the key.
type Config struct {
	OutDir   string `key:"S1B_OUT_DIR"`
	BuildDir string `key:"S1B_BUILD_DIR"`
	ACIDir   string `key:"S1B_ACI_DIR"`
	CacheDir string `key:"CACHE_DIR"`
	Jobs     int    `key:"S1B_JOBS"`

	KernelVersion         string   `key:"S1B_KERNEL_VERSION"`
	KernelSource          string   `key:"S1B_KERNEL_SOURCE"`
	KernelURL             string   `key:"S1B_KERNEL_URL"`
	KernelDistroPackage   string   `key:"S1B_KERNEL_DISTRO_PACKAGE"`
	KernelLocal           string   `key:"S1B_KERNEL_LOCAL"`
	KernelVersionSuffix   string   `key:"S1B_KERNEL_VERSION_SUFFIX"`
	ExtraKernelPatchFiles []string `key:"S1B_EXTRA_KERNEL_PATCH_FILES"`
	ExtraKernelPatchURLs  []string `key:"S1B_EXTRA_KERNEL_PATCH_URLS"`
	UpstreamStage1Version string   `key:"S1B_UPSTREAM_STAGE1_KVM_VERSION"`
	UpstreamStage1ACI     string   `key:"S1B_UPSTREAM_STAGE1_KVM_ACI"`
	Stage1Name            string   `key:"S1B_STAGE1_NAME"`
	QemuAccel             string   `key:"S1B_QEMU_ACCEL"`
	Stage1QemuAccel       string   `key:"S1B_STAGE1_QEMU_ACCEL"`
	ACIRegistry           string   `key:"ACI_REGISTRY"`
	RootfsSuite           string   `key:"ROOTFS_SUITE"`
	RootfsMirror          string   `key:"ROOTFS_MIRROR"`
	RootfsKeyring         string   `key:"ROOTFS_KEYRING"`
	RootfsVariant         string   `key:"ROOTFS_VARIANT"`
	RootfsComponents      []string `key:"ROOTFS_COMPONENTS"`
	RootfsPackages        []string `key:"ROOTFS_PACKAGES"`
	RootfsOverlay         string   `key:"ROOTFS_OVERLAY"`
	RootfsArch            string   `key:"ROOTFS_ARCH"`
	GoVersion             string   `key:"GO_VERSION"`
	RepoList              string   `key:"REPO_LIST"`
	BinsDir               string   `key:"BINS_DIR"`
	KeyUseName            string   `key:"KEY_USE_NAME"`
	KeyUseComment         string   `key:"KEY_USE_COMMENT"`
	KeyUseEmail           string   `key:"KEY_USE_EMAIL"`
	SigningKey            string   `key:"SIGNING_KEY"`
	SigningPassphraseFile string   `key:"SIGNING_PASSPHRASE_FILE"`
	TrustDir              string   `key:"TRUST_DIR"`
	PublishDir            string   `key:"PUBLISH_DIR"`
	PublishURLTemplate    string   `key:"PUBLISH_URL_TEMPLATE"`
	PublishBaseURL        string   `key:"PUBLISH_BASE_URL"`
	ServeAddr             string   `key:"SERVE_ADDR"`
	CertDir               string   `key:"CERT_DIR"`
	CertHosts             []string `key:"CERT_HOSTS"`
	StoreDir              string   `key:"STORE_DIR"`
	NspawnRelease         string   `key:"NSPAWN_RELEASE"`
	NspawnBuildIn         string   `key:"NSPAWN_BUILD_IN"`
	SourceDateEpoch       string   `key:"SOURCE_DATE_EPOCH"`
	ImageFormats          []string `key:"IMAGE_FORMATS"`
	FetchIdleTimeout      string   `key:"FETCH_IDLE_TIMEOUT"`
	CCache                string   `key:"S1B_CCACHE"`
	RemoteCache           string   `key:"S1B_REMOTE_CACHE"`
	RootfsBuilder         string   `key:"ROOTFS_BUILDER"`
	sources               map[string]Source
	values                map[string]string
}

// Source says where an effective value came from.
type Source struct {
	Origin string // "default", "file" or "environment"
	File   string // file name for default and file origins
	Line   int    // line number in File
}

func (s Source) String() string {
	switch s.Origin {
	case "environment":
		return "environment"
	default:
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	}
}

// Options controls Load. The zero value reads .config from the current
// directory and the process environment.
type Options struct {
	// Dir holds the optional .config file; empty means the current directory.
	Dir string
	// LookupEnv replaces os.LookupEnv (tests).
	LookupEnv func(string) (string, bool)
}

var (
	once    sync.Once
	loaded  *Config
	loadErr error
)

// Get loads the configuration once per process and returns it.
func Get() (*Config, error) {
	once.Do(func() { loaded, loadErr = Load(Options{}) })
	return loaded, loadErr
}

// Keys returns every known key in the order builder-config documents them.
func Keys() []string {
	entries, err := parse(builderConfig, DefaultsFile, nil)
	if err != nil {
		panic(fmt.Sprintf("embedded %s: %v", DefaultsFile, err))
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.key
	}
	return keys
}

type entry struct {
	key, value string
	line       int
}

// parse reads KEY=VALUE lines. known, when non-nil, restricts the keys.
func parse(data []byte, file string, known map[string]bool) ([]entry, error) {
	var out []entry
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: malformed line %q: expected KEY=VALUE", file, n, line)
		}
		if known != nil && !known[k] {
			return nil, fmt.Errorf("%s:%d: unknown key %s: see %s for the keys rktbuild reads", file, n, k, DefaultsFile)
		}
		if prev, dup := first[k]; dup {
			return nil, fmt.Errorf("%s:%d: key %s is set again; %s:%d set it first: keep one of the two lines", file, n, k, file, prev)
		}
		first[k] = n
		v, err := unquote(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %s: %v", file, n, k, err)
		}
		out = append(out, entry{key: k, value: v, line: n})
	}
	return out, sc.Err()
}

func unquote(v string) (string, error) {
	if v == "" {
		return v, nil
	}
	switch q := v[0]; q {
	case '"', '\'':
		if len(v) < 2 || v[len(v)-1] != q {
			return "", fmt.Errorf("unterminated quote in %s", v)
		}
		return v[1 : len(v)-1], nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}

// Load reads the defaults, the optional .config and the environment.
func Load(opts Options) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	defaults, err := parse(builderConfig, DefaultsFile, nil)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	raw := map[string]string{}
	c := &Config{sources: map[string]Source{}, values: map[string]string{}}
	for _, e := range defaults {
		known[e.key] = true
		raw[e.key] = e.value
		c.sources[e.key] = Source{Origin: "default", File: DefaultsFile, Line: e.line}
	}
	userPath := filepath.Join(opts.Dir, UserFile)
	if data, err := os.ReadFile(userPath); err == nil {
		user, err := parse(data, userPath, known)
		if err != nil {
			return nil, err
		}
		for _, e := range user {
			raw[e.key] = e.value
			c.sources[e.key] = Source{Origin: "file", File: userPath, Line: e.line}
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading %s: %w", userPath, err)
	}
	for k := range known {
		if v, ok := lookup(k); ok {
			raw[k] = v
			c.sources[k] = Source{Origin: "environment"}
		}
	}
	if err := c.resolve(raw); err != nil {
		return nil, err
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// resolve expands ${KEY} references between keys.
func (c *Config) resolve(raw map[string]string) error {
	var expand func(k string, seen map[string]bool) (string, error)
	expand = func(k string, seen map[string]bool) (string, error) {
		if v, ok := c.values[k]; ok {
			return v, nil
		}
		if seen[k] {
			return "", fmt.Errorf("%s: key %s refers to itself through ${...}", c.sources[k], k)
		}
		seen[k] = true
		v, err := expandRefs(raw[k], func(ref string) (string, error) {
			if _, ok := raw[ref]; !ok {
				return "", fmt.Errorf("%s: key %s refers to unknown key ${%s}", c.sources[k], k, ref)
			}
			return expand(ref, seen)
		})
		if err != nil {
			var se *syntaxError
			if errors.As(err, &se) {
				return "", fmt.Errorf("%s: key %s=%q: %v", c.sources[k], k, raw[k], se.msg)
			}
			return "", err
		}
		c.values[k] = v
		return v, nil
	}
	for k := range raw {
		if _, err := expand(k, map[string]bool{}); err != nil {
			return err
		}
	}
	return nil
}

// fill copies the resolved values into the typed fields.
func (c *Config) fill() error {
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		key := rt.Field(i).Tag.Get("key")
		if key == "" {
			continue
		}
		v, ok := c.values[key]
		if !ok {
			return fmt.Errorf("config field %s names key %s, which %s does not define", rt.Field(i).Name, key, DefaultsFile)
		}
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v)
		case reflect.Int:
			if v == "" {
				if key == "S1B_JOBS" {
					f.SetInt(int64(runtime.NumCPU()))
				}
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: %s=%q is not a non-negative whole number", c.sources[key], key, v)
			}
			f.SetInt(int64(n))
		case reflect.Slice:
			f.Set(reflect.ValueOf(Fields(v)))
		}
	}
	if c.Jobs == 0 {
		c.Jobs = runtime.NumCPU()
	}
	return c.checkFormats()
}

// Fields splits a list value on spaces and commas.
func Fields(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
}

// Value returns the effective string value of key and whether it is known.
func (c *Config) Value(key string) (string, bool) {
	v, ok := c.values[key]
	return v, ok
}

// SourceOf says where key's effective value came from.
func (c *Config) SourceOf(key string) Source { return c.sources[key] }

// Require returns an error naming every listed key whose value is empty.
func (c *Config) Require(keys ...string) error {
	var missing []string
	for _, k := range keys {
		if strings.TrimSpace(c.values[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("missing %s: set it in the environment or in %s", strings.Join(missing, ", "), UserFile)
}

// Epoch returns SOURCE_DATE_EPOCH as a Unix time and whether it is set.
func (c *Config) Epoch() (int64, bool, error) {
	if c.SourceDateEpoch == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(c.SourceDateEpoch, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("%s: SOURCE_DATE_EPOCH=%q is not a Unix time in seconds", c.sources["SOURCE_DATE_EPOCH"], c.SourceDateEpoch)
	}
	return n, true, nil
}

// Print writes every effective value and its origin, in documented order.
func (c *Config) Print(w interface{ Write([]byte) (int, error) }) {
	for _, k := range Keys() {
		fmt.Fprintf(w, "%s=%s\t# %s\n", k, strconv.Quote(c.values[k]), c.sources[k])
	}
}
