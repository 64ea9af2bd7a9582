package rkt

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlyManifest checks the fly stage1 manifest against rkt's
// stage1_fly/aci/aci-manifest.in with version 1.30.0 and amd64 filled in.
func TestFlyManifest(t *testing.T) {
	b, err := FlyManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ACKind, ACVersion, Name string
		Labels                  []struct{ Name, Value string }
		Annotations             []struct{ Name, Value string }
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.ACKind != "ImageManifest" || m.ACVersion != "0.8.11" || m.Name != "coreos.com/rkt/stage1-fly" {
		t.Errorf("manifest header = %+v", m)
	}
	got := map[string]string{}
	for _, l := range m.Labels {
		got["label "+l.Name] = l.Value
	}
	for _, a := range m.Annotations {
		got["annotation "+a.Name] = a.Value
	}
	for k, v := range map[string]string{
		"label version":                                      "1.30.0",
		"label os":                                           "linux",
		"annotation coreos.com/rkt/stage1/run":               "/run",
		"annotation coreos.com/rkt/stage1/enter":             "/enter",
		"annotation coreos.com/rkt/stage1/gc":                "/gc",
		"annotation coreos.com/rkt/stage1/stop":              "/stop",
		"annotation coreos.com/rkt/stage1/interface-version": "5",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["label arch"] == "" {
		t.Error("no arch label")
	}
}

func TestLDFlags(t *testing.T) {
	f := LDFlags()
	for _, want := range []string{
		"-X 'github.com/rkt/rkt/version.Version=1.30.0'",
		"-X 'main.buildDefaultStage1Name=coreos.com/rkt/stage1-fly'",
		"-X 'main.buildDefaultStage1Version=1.30.0'",
		"-X 'main.buildDefaultStage1ImageInRktDir=stage1-fly.aci'",
		"-X 'main.rktFeatures=-TPM -SDJOURNAL'",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("LDFlags() lacks %s:\n%s", want, f)
		}
	}
}

// TestSandboxArgv: every directory rkt reads or writes is under the
// sandbox root, and rkt runs in a private mount namespace.
func TestSandboxArgv(t *testing.T) {
	root := t.TempDir()
	s, err := NewSandbox(root, Tools{Rkt: "/x/rkt"})
	if err != nil {
		t.Fatal(err)
	}
	argv := s.UnshareArgv("run", "img.aci")
	if strings.Join(argv[:5], " ") != "unshare -m --propagation private --" || argv[5] != "/x/rkt" {
		t.Errorf("argv = %q", argv)
	}
	seen := map[string]bool{}
	for _, a := range argv[6:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		seen[k] = true
		if !strings.HasPrefix(v, root+string(filepath.Separator)) {
			t.Errorf("%s points outside the sandbox: %s", k, v)
		}
	}
	for _, f := range []string{"--dir", "--local-config", "--system-config", "--user-config"} {
		if !seen[f] {
			t.Errorf("argv lacks %s: %q", f, argv)
		}
	}
	if _, err := NewSandbox(root, Tools{}); err == nil || !strings.Contains(err.Error(), "rkt:tools") {
		t.Errorf("NewSandbox without rkt = %v", err)
	}
}
