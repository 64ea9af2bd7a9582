package scripts

import (
	"bytes"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run runs a script with sh and returns its combined output and exit code.
func run(t *testing.T, env []string, script string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func TestEmbedded(t *testing.T) {
	for name, data := range map[string][]byte{"entrypoint.sh": Entrypoint, "go-build-entrypoint": GoBuildEntrypoint} {
		disk, err := os.ReadFile(name)
		if err != nil || !bytes.Equal(disk, data) {
			t.Errorf("embedded %s differs from the file", name)
		}
		if fi, err := os.Stat(name); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", name)
		}
	}
}

func TestEntrypointExecs(t *testing.T) {
	out, code := run(t, nil, "entrypoint.sh", "sh", "-c", `printf '%s|' "$@"; exit 3`, "x", "two words", "")
	if code != 3 || out != "two words||" {
		t.Errorf("entrypoint: code %d output %q, want 3 and %q", code, out, "two words||")
	}
}

// TestGoBuildEntrypointGit clones a local git repository at BUILD_BRANCH
// and builds it.
func TestGoBuildEntrypointGit(t *testing.T) {
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "needs "+tool)
		}
	}
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo.git")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(repo, 0o755)
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module example.com/tool\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "main")
	git("checkout", "-q", "-b", "release")
	os.WriteFile(filepath.Join(repo, "Makefile"), []byte("all:\n\tgo build -o bin/tool-release .\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "release")
	git("checkout", "-q", "main")
	for branch, want := range map[string]string{"": "tool", "release": "tool-release"} {
		bin := filepath.Join(tmp, "bin-"+branch)
		env := []string{"BUILD_BRANCH=" + branch, "GOBIN=" + bin, "GOPATH=" + filepath.Join(tmp, "gopath"), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-modcacherw"}
		out, code := run(t, env, "go-build-entrypoint", "file://"+repo)
		if code != 0 {
			t.Fatalf("BUILD_BRANCH=%q: exit %d\n%s", branch, code, out)
		}
		if _, err := os.Stat(filepath.Join(bin, want)); err != nil {
			t.Errorf("BUILD_BRANCH=%q: no %s in GOBIN\n%s", branch, want, out)
		}
	}
}

func TestGoBuildEntrypoint(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Skip(t, "needs go")
	}
	tests := []struct {
		name      string
		files     map[string]string // source tree mounted at SRC_DIR
		args      []string
		wantCode  int
		wantOut   string
		wantBins  []string
		noSrcTree bool
	}{
		{name: "go build of a module", files: map[string]string{
			"go.mod":  "module example.com/hello\n\ngo 1.22\n",
			"main.go": "package main\n\nfunc main() { println(\"hi\") }\n",
		}, wantOut: "with go build", wantBins: []string{"hello"}},
		{name: "Makefile wins, artifacts collected from bin/", files: map[string]string{
			"go.mod":   "module example.com/made\n\ngo 1.22\n",
			"main.go":  "package main\n\nfunc main() {}\n",
			"Makefile": "all:\n\tgo build -o bin/made-by-make .\n",
		}, wantOut: "with make", wantBins: []string{"made-by-make"}},
		{name: "build script", files: map[string]string{
			"go.mod":   "module example.com/s\n\ngo 1.22\n",
			"main.go":  "package main\n\nfunc main() {}\n",
			"build.sh": "#!/bin/sh\nset -e\ngo build -o \"$GOBIN/scripted\" .\n",
		}, wantOut: "with ./build.sh", wantBins: []string{"scripted"}},
		{name: "nothing to build", files: map[string]string{"README": "x"}, wantCode: 2, wantOut: "nothing to build"},
		{name: "nothing mounted", noSrcTree: true, wantCode: 2, wantOut: "nothing mounted at"},
		{name: "option-like target", args: []string{"-x"}, wantCode: 2, wantOut: "looks like an option"},
		{name: "two targets", args: []string{"a.example/x", "b.example/y"}, wantCode: 2, wantOut: "expected one target"},
		{name: "module install failure is reported", args: []string{"example.invalid/nope@v1.0.0"}, wantCode: 1, wantOut: "go install example.invalid/nope@v1.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			src, bin := filepath.Join(tmp, "src"), filepath.Join(tmp, "bin")
			if !tt.noSrcTree {
				os.MkdirAll(src, 0o755)
			}
			for f, data := range tt.files {
				mode := os.FileMode(0o644)
				if strings.HasSuffix(f, ".sh") {
					mode = 0o755
				}
				if err := os.WriteFile(filepath.Join(src, f), []byte(data), mode); err != nil {
					t.Fatal(err)
				}
			}
			env := []string{"SRC_DIR=" + src, "GOBIN=" + bin, "GOPATH=" + filepath.Join(tmp, "gopath"),
				"GOMODCACHE=" + filepath.Join(tmp, "gopath", "mod"), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-modcacherw"}
			out, code := run(t, env, "go-build-entrypoint", tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.wantCode, tt.wantOut)
			}
			for _, b := range tt.wantBins {
				if fi, err := os.Stat(filepath.Join(bin, b)); err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("artifact %s missing from GOBIN: %v\n%s", b, err, out)
				}
			}
		})
	}
}
