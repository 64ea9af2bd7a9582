package kernel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testenv"
	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestLookupConfig(t *testing.T) {
	v, _ := ParseVersion("6.1.112")
	tests := []struct {
		name     string
		files    []string
		want     string
		fragment bool
		err      string
	}{
		{"full version wins", []string{"linux-6.1.112.config", "linux-6.1.config", FragmentName}, "linux-6.1.112.config", false, ""},
		{"major.minor next", []string{"linux-6.1.config", "linux-6.1.11.config", FragmentName}, "linux-6.1.config", false, ""},
		{"fragment last", []string{"linux-6.10.config", FragmentName}, FragmentName, true, ""},
		{"nothing", []string{"linux-5.10.config"}, "", false, "add"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				testutil.WriteFile(t, filepath.Join(dir, f), "CONFIG_X=y\n")
			}
			got, err := LookupConfig(dir, v)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), "linux-6.1.112.config") || !strings.Contains(err.Error(), "linux-6.1.config") {
					t.Fatalf("error %v should name both config files to add", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(got.Path) != tt.want || got.Fragment != tt.fragment {
				t.Errorf("got %+v, want %s fragment=%v", got, tt.want, tt.fragment)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	opts, err := ParseConfig([]byte("# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n\nCONFIG_A=m\nCONFIG_N=0x10\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Option{{"CONFIG_A", "m"}, {"CONFIG_B", "n"}, {"CONFIG_S", `"x y"`}, {"CONFIG_N", "0x10"}}
	if len(opts) != len(want) {
		t.Fatalf("got %v", opts)
	}
	for i := range want {
		if opts[i] != want[i] {
			t.Errorf("option %d = %v, want %v", i, opts[i], want[i])
		}
	}
	for _, bad := range []string{"A=y\n", "CONFIG_A y\n", "CONFIG A=y\n"} {
		if _, err := ParseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseConfig(%q) error %v, want a line number", bad, err)
		}
	}
}

// TestFragment checks the shipped stage1-kvm fragment: it parses, asks for
// what a stage1-kvm guest needs, and merges over a base config.
func TestFragment(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("configs", FragmentName))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, o := range opts {
		have[o.Name] = o.Value
	}
	for _, need := range []string{"CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_BLK", "CONFIG_VIRTIO_NET",
		"CONFIG_VIRTIO_CONSOLE", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS", "CONFIG_9P_FS_POSIX_ACL", "CONFIG_DEVTMPFS",
		"CONFIG_TMPFS", "CONFIG_OVERLAY_FS", "CONFIG_CGROUPS", "CONFIG_NAMESPACES", "CONFIG_SECCOMP", "CONFIG_KVM_GUEST",
		"CONFIG_PARAVIRT", "CONFIG_FHANDLE", "CONFIG_64BIT"} {
		if have[need] != "y" {
			t.Errorf("fragment does not set %s=y", need)
		}
	}
}

// TestMergeAndDrift merges a fragment over a small base config the way
// Configure does (without Kconfig) and runs the drift gate over results
// that kept and dropped options.
func TestMergeAndDrift(t *testing.T) {
	base := "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_LOCALVERSION=\"\"\nCONFIG_LOCALVERSION_AUTO=y\n"
	frag, err := ParseConfig([]byte("CONFIG_B=y\n# CONFIG_C is not set\nCONFIG_NEW=y\nCONFIG_STR=\"hello\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := append(frag, LocalVersion("-rktbuild-v1")...)
	merged := Merge([]byte(base), want)
	golden := filepath.Join("..", "testdata", "kernel", "merged.config")
	testutil.Golden(t, golden, merged)
	// Merging again changes nothing.
	if again := Merge(merged, want); string(again) != string(merged) {
		t.Errorf("merge is not idempotent:\n%s", again)
	}
	if d, err := Drift(merged, want); err != nil || len(d) != 0 {
		t.Errorf("drift of the merged config = %v, %v; want none", d, err)
	}

	// Kconfig dropped CONFIG_NEW (unmet dependency), turned C back on and
	// changed the string: the gate lists exactly those.
	final := strings.NewReplacer("CONFIG_NEW=y\n", "", "# CONFIG_C is not set\n", "CONFIG_C=m\n", `CONFIG_STR="hello"`, `CONFIG_STR="bye"`).Replace(string(merged))
	d, err := Drift([]byte(final), want)
	if err != nil {
		t.Fatal(err)
	}
	wantDrift := []string{`CONFIG_C: want n, got m`, `CONFIG_NEW: want y, got not set`, `CONFIG_STR: want "hello", got "bye"`}
	if strings.Join(d, "|") != strings.Join(wantDrift, "|") {
		t.Errorf("drift = %q, want %q", d, wantDrift)
	}
}

func TestLocalVersion(t *testing.T) {
	got := LocalVersion("-rktbuild-v1")
	if got[0] != (Option{"CONFIG_LOCALVERSION", `"-rktbuild-v1"`}) || got[1] != (Option{"CONFIG_LOCALVERSION_AUTO", "n"}) {
		t.Errorf("LocalVersion = %v", got)
	}
	if !suffixRE.MatchString("-kinvolk-v1") || suffixRE.MatchString(`-a"b`) || suffixRE.MatchString("-a b") {
		t.Error("suffix validation is wrong")
	}
}

func TestAssetDir(t *testing.T) {
	// An existing directory is used as is.
	if got, err := assetDir("configs", "configs", t.TempDir()); err != nil || got != "configs" {
		t.Errorf("assetDir(existing) = %q, %v", got, err)
	}
	// A missing one falls back to the embedded copy, byte for byte.
	work := t.TempDir()
	got, err := assetDir(filepath.Join(work, "nope"), "keys", work)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(got, Autosigner, KroahHartman, Torvalds); err != nil {
		t.Errorf("embedded keys: %v", err)
	}
	frag, err := assetDir(filepath.Join(work, "nope"), "configs", work)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(frag, FragmentName))
	b, _ := os.ReadFile(filepath.Join("configs", FragmentName))
	if len(a) == 0 || string(a) != string(b) {
		t.Error("embedded fragment differs from kernel/configs")
	}
}

// TestConfigureKeepsBaseConfig checks that Configure runs BaseConfig's
// make target once per source tree and compiler: a suffix or fragment
// change reuses the kept copy, a changed source marker makes it again.
// The tree is a fixture whose Makefile records each tinyconfig run.
func TestConfigureKeepsBaseConfig(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Skip(t, "needs make")
	}
	src, out := t.TempDir(), t.TempDir()
	mkfile := "tinyconfig:\n\t@echo run >> $(O)/runs\n\t@printf 'CONFIG_BASE=y\\n# CONFIG_X is not set\\n' > $(O)/.config\nolddefconfig:\n\t@true\n"
	testutil.WriteFile(t, filepath.Join(src, "Makefile"), mkfile)
	testutil.WriteFile(t, filepath.Join(src, markerName), `{"input_sha256": "1"}`)
	frag := filepath.Join(t.TempDir(), "frag.config")
	testutil.WriteFile(t, frag, "CONFIG_X=y\n")
	mk := Make{Src: src, Out: out, Arch: "x86_64"}
	ctx := context.Background()
	for _, tc := range []struct {
		suffix, marker string
		runs           int
	}{
		{"-a", "", 1},
		{"-b", "", 1},                      // suffix change: kept base
		{"-b", `{"input_sha256": "2"}`, 2}, // new source: made again
		{"-c", "", 2},
	} {
		if tc.marker != "" {
			testutil.WriteFile(t, filepath.Join(src, markerName), tc.marker)
		}
		if err := Configure(ctx, mk, ConfigChoice{Path: frag, Fragment: true}, tc.suffix); err != nil {
			t.Fatal(err)
		}
		runs, _ := os.ReadFile(filepath.Join(out, "runs"))
		if got := strings.Count(string(runs), "run\n"); got != tc.runs {
			t.Errorf("suffix %s: %s ran %d times, want %d", tc.suffix, BaseConfig, got, tc.runs)
		}
		cfg, _ := os.ReadFile(filepath.Join(out, ".config"))
		for _, want := range []string{"CONFIG_BASE=y", "CONFIG_X=y", `CONFIG_LOCALVERSION="` + tc.suffix + `"`} {
			if !strings.Contains(string(cfg), want) {
				t.Errorf("suffix %s: .config lacks %s:\n%s", tc.suffix, want, cfg)
			}
		}
	}
}
