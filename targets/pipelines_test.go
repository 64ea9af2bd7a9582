package targets

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The committed CI pipelines are parsed with a real YAML parser and
// checked against the keys their runners require and the promises the
// README makes: Go from go.mod, host tools through `mage setup`, `mage
// test`, the kernel matrix with its cache, images uploaded as artifacts.

type ghWorkflow struct {
	Name string         `yaml:"name"`
	On   map[string]any `yaml:"on"`
	Jobs map[string]struct {
		RunsOn   string         `yaml:"runs-on"`
		Needs    any            `yaml:"needs"`
		Strategy map[string]any `yaml:"strategy"`
		Steps    []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func TestGitHubWorkflows(t *testing.T) {
	files, _ := filepath.Glob("../.github/workflows/*.yml")
	if len(files) == 0 {
		t.Fatal("no workflow in .github/workflows")
	}
	var runs, uses []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w ghWorkflow
		if err := yaml.Unmarshal(data, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if w.Name == "" || len(w.On) == 0 || len(w.Jobs) == 0 {
			t.Errorf("%s: name, on and jobs are required", f)
		}
		for id, j := range w.Jobs {
			if j.RunsOn == "" || len(j.Steps) == 0 {
				t.Errorf("%s: job %s: runs-on and steps are required", f, id)
			}
			if n, ok := j.Needs.(string); ok {
				if _, found := w.Jobs[n]; !found {
					t.Errorf("%s: job %s needs unknown job %s", f, id, n)
				}
			}
			for i, s := range j.Steps {
				if (s.Uses == "") == (s.Run == "") {
					t.Errorf("%s: job %s step %d: exactly one of uses and run", f, id, i)
				}
				if strings.HasPrefix(s.Uses, "actions/setup-go") {
					if s.With["go-version-file"] != "go.mod" || s.With["go-version"] != "" {
						t.Errorf("%s: job %s: setup-go must take the version from go.mod (go-version-file: go.mod), got %v", f, id, s.With)
					}
				}
				if strings.HasPrefix(s.Uses, "actions/cache") && !strings.Contains(s.With["path"], ".rktbuild/cache") {
					t.Errorf("%s: job %s: the cache must keep CACHE_DIR (.rktbuild/cache: ccache, downloads), got %q", f, id, s.With["path"])
				}
				runs = append(runs, s.Run)
				uses = append(uses, s.Uses)
			}
		}
	}
	checkPipelineCommands(t, ".github/workflows", strings.Join(runs, "\n"))
	all := strings.Join(uses, "\n")
	for _, want := range []string{"actions/setup-go", "actions/cache", "actions/upload-artifact"} {
		if !strings.Contains(all, want) {
			t.Errorf(".github/workflows: no step uses %s", want)
		}
	}
}

type semPipeline struct {
	Version string `yaml:"version"`
	Name    string `yaml:"name"`
	Agent   struct {
		Machine struct {
			Type    string `yaml:"type"`
			OSImage string `yaml:"os_image"`
		} `yaml:"machine"`
	} `yaml:"agent"`
	ExecutionTimeLimit map[string]int `yaml:"execution_time_limit"`
	Global             struct {
		EnvVars  []semEnv `yaml:"env_vars"`
		Prologue struct {
			Commands []string `yaml:"commands"`
		} `yaml:"prologue"`
	} `yaml:"global_job_config"`
	Blocks []struct {
		Name         string   `yaml:"name"`
		Dependencies []string `yaml:"dependencies"`
		Task         struct {
			EnvVars  []semEnv `yaml:"env_vars"`
			Prologue struct {
				Commands []string `yaml:"commands"`
			} `yaml:"prologue"`
			Epilogue struct {
				Always struct {
					Commands []string `yaml:"commands"`
				} `yaml:"always"`
				OnPass struct {
					Commands []string `yaml:"commands"`
				} `yaml:"on_pass"`
			} `yaml:"epilogue"`
			Jobs []struct {
				Name     string   `yaml:"name"`
				Commands []string `yaml:"commands"`
				Matrix   []struct {
					EnvVar string   `yaml:"env_var"`
					Values []string `yaml:"values"`
				} `yaml:"matrix"`
			} `yaml:"jobs"`
		} `yaml:"task"`
	} `yaml:"blocks"`
}

type semEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

func TestSemaphorePipeline(t *testing.T) {
	data, err := os.ReadFile("../.semaphore/semaphore.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p semPipeline
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true) // a misspelt key is an error, as on Semaphore
	if err := dec.Decode(&p); err != nil {
		t.Fatalf(".semaphore/semaphore.yml: %v", err)
	}
	if p.Version != "v1.0" || p.Name == "" || p.Agent.Machine.Type == "" || p.Agent.Machine.OSImage == "" || len(p.Blocks) == 0 {
		t.Fatalf(".semaphore/semaphore.yml: version v1.0, name, agent.machine.{type,os_image} and blocks are required: %+v", p)
	}
	if !regexp.MustCompile(`^ubuntu(2204|2404)$`).MatchString(p.Agent.Machine.OSImage) {
		t.Errorf("os_image %s: the README promises Ubuntu 22.04/24.04", p.Agent.Machine.OSImage)
	}
	names := map[string]bool{}
	var cmds []string
	cmds = append(cmds, p.Global.Prologue.Commands...)
	for _, b := range p.Blocks {
		if b.Name == "" || len(b.Task.Jobs) == 0 {
			t.Errorf("block %q: name and task.jobs are required", b.Name)
		}
		for _, d := range b.Dependencies {
			if !names[d] {
				t.Errorf("block %s depends on %s, which is not an earlier block", b.Name, d)
			}
		}
		names[b.Name] = true
		cmds = append(cmds, b.Task.Prologue.Commands...)
		cmds = append(cmds, b.Task.Epilogue.Always.Commands...)
		cmds = append(cmds, b.Task.Epilogue.OnPass.Commands...)
		for _, j := range b.Task.Jobs {
			if j.Name == "" || len(j.Commands) == 0 {
				t.Errorf("block %s: job %q: name and commands are required", b.Name, j.Name)
			}
			cmds = append(cmds, j.Commands...)
		}
	}
	all := strings.Join(cmds, "\n")
	checkPipelineCommands(t, ".semaphore/semaphore.yml", all)
	// Go: whatever sem-version installs, the toolchain must be go.mod's.
	if !strings.Contains(all, "GOTOOLCHAIN=go$(sed -n 's/^go //p' go.mod)") {
		t.Error(".semaphore/semaphore.yml: the Go toolchain must come from go.mod (export GOTOOLCHAIN=go<go.mod version>)")
	}
	for _, want := range []string{"cache restore", "cache store", "artifact push"} {
		if !strings.Contains(all, want) {
			t.Errorf(".semaphore/semaphore.yml: no %q command", want)
		}
	}
}

// checkPipelineCommands checks what every pipeline must run.
func checkPipelineCommands(t *testing.T, file, all string) {
	t.Helper()
	for _, want := range []struct{ re, why string }{
		{`mage\.go setup|\.ci/run`, "host tools through `mage setup`"},
		{`mage\.go test|\.ci/run`, "`mage test`"},
		{`mage\.go buildStage1`, "the kernel matrix (`mage buildStage1`)"},
		{`mage\.go stage1:smoke`, "the qemu boot of each kernel"},
	} {
		if !regexp.MustCompile(want.re).MatchString(all) {
			t.Errorf("%s: does not run %s", file, want.why)
		}
	}
	if regexp.MustCompile(`sem-version go [0-9.]+\s*$`).MatchString(all) && !strings.Contains(all, "GOTOOLCHAIN") {
		t.Errorf("%s: a pinned Go version that is not go.mod's", file)
	}
	if strings.Contains(all, "linux-source-") {
		t.Errorf("%s: names a linux-source package: the kernel source package differs per distribution release", file)
	}
}

// TestCIPackages checks .ci/packages: no release-specific names, and on
// a Debian/Ubuntu host every name is a package apt knows; .ci/run picks
// the kernel source package at run time.
func TestCIPackages(t *testing.T) {
	f, err := os.Open("../.ci/packages")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pkgs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "linux-source") || strings.HasPrefix(line, "linux-headers") {
			t.Errorf(".ci/packages: %s exists on one distribution release only; .ci/run picks the kernel source package", line)
		}
		pkgs = append(pkgs, line)
	}
	run, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(run), "apt-cache pkgnames linux-source-") || !strings.Contains(string(run), "mage.go setup") {
		t.Error(".ci/run must pick the kernel source package at run time and run `mage setup`")
	}
	if _, err := exec.LookPath("apt-cache"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("apt-cache is missing and CI=true: CI runs on Debian/Ubuntu")
		}
		t.Skip("apt-cache not found (not a Debian/Ubuntu host): package names not checked")
	}
	out, err := exec.Command("apt-cache", append([]string{"show", "--no-all-versions"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("apt-cache show .ci/packages: %v\n%s", err, lastLines(string(out), 5))
	}
	for _, p := range pkgs {
		if !regexp.MustCompile(`(?m)^Package: ` + regexp.QuoteMeta(p) + `$`).Match(out) {
			t.Errorf(".ci/packages: apt does not know %s", p)
		}
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
