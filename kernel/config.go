package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FragmentName is the stage1-kvm fragment in the configs directory.
const FragmentName = "stage1-kvm.fragment"

// ConfigChoice says how a kernel is configured.
type ConfigChoice struct {
	// Path is the full config or the fragment.
	Path string
	// Fragment is true when Path is the fragment to merge over Base.
	Fragment bool
}

// LookupConfig finds the config for v in dir: linux-<full>.config, then
// linux-<major.minor>.config, else the stage1-kvm fragment.
func LookupConfig(dir string, v Version) (ConfigChoice, error) {
	for _, name := range []string{"linux-" + v.String() + ".config", "linux-" + v.MajorMinor() + ".config"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return ConfigChoice{Path: p}, nil
		} else if !os.IsNotExist(err) {
			return ConfigChoice{}, err
		}
	}
	p := filepath.Join(dir, FragmentName)
	if _, err := os.Stat(p); err != nil {
		return ConfigChoice{}, fmt.Errorf("no kernel config for %s: add %s/linux-%s.config or %s/linux-%s.config, or restore %s",
			v, dir, v, dir, v.MajorMinor(), p)
	}
	return ConfigChoice{Path: p, Fragment: true}, nil
}

// Option is one line of a kernel config: Value is "y", "m", "n" (for "is
// not set"), a number or a quoted string.
type Option struct {
	Name  string // with the CONFIG_ prefix
	Value string
}

// ParseConfig reads a .config or a fragment. Later settings of the same
// option win, as in merge_config.sh.
func ParseConfig(data []byte) ([]Option, error) {
	var opts []Option
	idx := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		var o Option
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set"):
			o = Option{Name: strings.TrimSuffix(strings.TrimPrefix(line, "# "), " is not set"), Value: "n"}
		case strings.HasPrefix(line, "#"):
			continue
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || !strings.HasPrefix(k, "CONFIG_") || strings.ContainsAny(k, " \t") {
				return nil, fmt.Errorf("line %d: %q is not CONFIG_NAME=value or \"# CONFIG_NAME is not set\"", n, line)
			}
			o = Option{Name: k, Value: v}
		}
		if i, ok := idx[o.Name]; ok {
			opts[i] = o
			continue
		}
		idx[o.Name] = len(opts)
		opts = append(opts, o)
	}
	return opts, sc.Err()
}

func (o Option) line() string {
	if o.Value == "n" {
		return "# " + o.Name + " is not set"
	}
	return o.Name + "=" + o.Value
}

// Merge returns base with every option of overlay set: existing lines are
// replaced in place, new ones appended in overlay order.
func Merge(base []byte, overlay []Option) []byte {
	want := map[string]Option{}
	for _, o := range overlay {
		want[o.Name] = o
	}
	done := map[string]bool{}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(base))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if name := optionName(line); name != "" {
			if o, ok := want[name]; ok {
				if !done[name] {
					out.WriteString(o.line() + "\n")
					done[name] = true
				}
				continue
			}
		}
		out.WriteString(line + "\n")
	}
	for _, o := range overlay {
		if !done[o.Name] {
			out.WriteString(o.line() + "\n")
			done[o.Name] = true
		}
	}
	return out.Bytes()
}

// optionName returns the option a .config line sets, or "".
func optionName(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set") {
		return strings.TrimSuffix(strings.TrimPrefix(line, "# "), " is not set")
	}
	if k, _, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
		return k
	}
	return ""
}

// Drift lists the options of want that final does not have as asked, e.g.
// "CONFIG_9P_FS: want y, got not set". An empty result means the gate
// passes. An option asked as "n" passes when it is unset or absent.
func Drift(final []byte, want []Option) ([]string, error) {
	got, err := ParseConfig(final)
	if err != nil {
		return nil, fmt.Errorf("final config: %w", err)
	}
	m := map[string]string{}
	for _, o := range got {
		m[o.Name] = o.Value
	}
	var bad []string
	for _, o := range want {
		v, ok := m[o.Name]
		if !ok {
			v = "n"
		}
		if v != o.Value {
			shown := v
			if v == "n" {
				shown = "not set"
			}
			bad = append(bad, fmt.Sprintf("%s: want %s, got %s", o.Name, o.Value, shown))
		}
	}
	sort.Strings(bad)
	return bad, nil
}

// LocalVersion returns the options that make the release string end in
// suffix: CONFIG_LOCALVERSION and no automatic SCM suffix.
func LocalVersion(suffix string) []Option {
	return []Option{
		{Name: "CONFIG_LOCALVERSION", Value: fmt.Sprintf("%q", suffix)},
		{Name: "CONFIG_LOCALVERSION_AUTO", Value: "n"},
	}
}
