package targets_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// adviceRe finds commands the tool prints as advice: in backquotes or in
// <code> elements of string literals (doc comments are not printed).
var adviceRe = regexp.MustCompile("`(?:sudo )?(?:go run mage\\.go|mage) ([^`]+)`|<code>mage ([^<]+)</code>")

// placeholders turns the advice's placeholders into sample values.
var placeholders = strings.NewReplacer(
	"NAME[:VERSION]", "example.com/app:1.0.0",
	"%s", "example.com/app",
	"PREFIX", "example.com/app",
	"PUBKEY", "keys/app.pub.asc",
	"FINGERPRINT", "0123456789abcdef0123456789abcdef01234567",
)

type advice struct {
	where string
	args  []string
}

// collectAdvice scans the non-test Go sources of the repository.
func collectAdvice(t *testing.T, repo string) []advice {
	t.Helper()
	var out []advice
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != repo && (d.Name() == "e2e" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || d.Name() == "build") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return nil // not ours to judge (build-tagged fragments)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			bl, ok := n.(*ast.BasicLit)
			if !ok || bl.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(bl.Value)
			if err != nil {
				return true
			}
			for _, m := range adviceRe.FindAllStringSubmatch(s, -1) {
				cmd := m[1] + m[2]
				rel, _ := filepath.Rel(repo, p)
				out = append(out, advice{where: rel + ":" + strconv.Itoa(fset.Position(bl.Pos()).Line) + ": " + cmd, args: strings.Fields(placeholders.Replace(cmd))})
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	mageOnce sync.Once
	mageBin  string
	mageErr  error
)

// compiledMage compiles this repository's magefile once.
func compiledMage(t *testing.T, repo string) string {
	t.Helper()
	mageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rktbuild-advice-")
		if err != nil {
			mageErr = err
			return
		}
		mageBin = filepath.Join(dir, "mage")
		cmd := exec.Command("go", "run", "github.com/magefile/mage", "-compile", mageBin)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "MAGEFILE_CACHE="+filepath.Join(dir, "cache"))
		if out, err := cmd.CombinedOutput(); err != nil {
			mageErr = err
			mageBin = string(out)
		}
	})
	if mageErr != nil {
		t.Fatalf("compiling the magefile: %v\n%s", mageErr, mageBin)
	}
	return mageBin
}

var (
	usageRe = regexp.MustCompile(`(?m)^Usage:\s*\n\s*\n\s*(.+)$`)
	flagRe  = regexp.MustCompile(`^\[?-([A-Za-z0-9]+)=<([a-z]+)>\]?$`)
)

// usage reads the positional count and the flags from `mage -h TARGET`.
func usage(help string) (positional int, flags map[string]string, ok bool) {
	m := usageRe.FindStringSubmatch(help)
	if m == nil {
		return 0, nil, false
	}
	flags = map[string]string{}
	toks := strings.Fields(m[1])
	if len(toks) < 2 {
		return 0, nil, false
	}
	for _, tok := range toks[2:] {
		switch {
		case tok == "[<flags>]":
			for _, line := range strings.Split(help[strings.Index(help, "Flags:")+1:], "\n") {
				if f := flagRe.FindStringSubmatch(strings.TrimSpace(line)); f != nil {
					flags[f[1]] = f[2]
				}
			}
		case strings.HasPrefix(tok, "<"):
			positional++
		default:
			if f := flagRe.FindStringSubmatch(tok); f != nil {
				flags[f[1]] = f[2]
			}
		}
	}
	return positional, flags, true
}

// Every `mage ...` command the tool prints as advice names a real target,
// gives exactly its positional arguments and only its flags, in mage's
// -name=value form after the positionals (as `mage -h TARGET` of the
// compiled magefile declares them); advice with flags is also run as a dry
// run followed by another target, which mage reaches only when every
// argument was consumed.
func TestAdviceParses(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the magefile: skipped with -short")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	all := collectAdvice(t, repo)
	if len(all) < 10 {
		t.Fatalf("found only %d advice commands: the scan is broken", len(all))
	}
	bin := compiledMage(t, repo)
	for _, a := range all {
		t.Run(strings.Join(a.args, "_"), func(t *testing.T) {
			help, err := exec.Command(bin, "-h", a.args[0]).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: `mage -h %s`: %v\n%s", a.where, a.args[0], err, help)
			}
			want, flags, ok := usage(string(help))
			if !ok {
				t.Fatalf("%s: no usage line in:\n%s", a.where, help)
			}
			var pos []string
			hasFlags := false
			for _, arg := range a.args[1:] {
				if strings.HasPrefix(arg, "-") {
					hasFlags = true
					name, _, ok := strings.Cut(arg[1:], "=")
					if _, known := flags[name]; !known || !ok && flags[name] != "bool" {
						t.Errorf("%s: %q is not a flag of %s (flags: %v; mage wants -name=value)", a.where, arg, a.args[0], flags)
					}
					continue
				}
				if hasFlags {
					t.Errorf("%s: positional %q after a flag: mage reads positionals first", a.where, arg)
				}
				pos = append(pos, arg)
			}
			if len(pos) != want {
				t.Errorf("%s: %d positional arguments, %s takes %d", a.where, len(pos), a.args[0], want)
			}
			if !hasFlags {
				return
			}
			cmd := exec.Command(bin, append(a.args, "config")...)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "DRY_RUN=1", "MAGEFILE_VERBOSE=1")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Running target: Config") {
				t.Errorf("%s: dry run of `mage %s config`: %v\n%s", a.where, strings.Join(a.args, " "), err, out)
			}
		})
	}
}
