package targets

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// maxTargetLines is the longest a target function may be: a target loads
// the configuration (run), calls one package function and reports; logic
// lives in packages that tests call directly.
const maxTargetLines = 20

// maxSynopsis is the longest first sentence `mage -l` may show, so that the
// list stays readable in an 80-column terminal (name column included).
const maxSynopsis = 70

// TestTargetSynopsisLength checks that every target is thin (at most
// maxTargetLines lines) and what `mage -l` shows for every target of
// this package and of the repository's magefile: the doc comment's first
// sentence, minus a leading target name (as mage trims it), at most
// maxSynopsis characters. Details belong in the rest of the doc comment,
// which `mage -h TARGET` prints.
func TestTargetSynopsisLength(t *testing.T) {
	var files []string
	for _, glob := range []string{"*.go", filepath.Join("..", "magefiles", "*.go")} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	fset := token.NewFileSet()
	var pkg doc.Package
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "mage_output_file.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !fn.Name.IsExported() || !isTarget(fn) {
				continue
			}
			checked++
			name := fn.Name.Name
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxTargetLines {
				t.Errorf("%s: target %s is %d lines (max %d): move its logic into a package function", fset.Position(fn.Pos()), name, n, maxTargetLines)
			}
			if fn.Doc == nil {
				t.Errorf("%s: target %s has no doc comment", fset.Position(fn.Pos()), name)
				continue
			}
			syn := pkg.Synopsis(fn.Doc.Text())
			if first, rest, ok := strings.Cut(syn, " "); ok && strings.EqualFold(first, name) {
				syn = rest
			}
			if n := len([]rune(syn)); n > maxSynopsis {
				t.Errorf("%s: %s: mage -l shows %d characters (max %d): %q", fset.Position(fn.Pos()), name, n, maxSynopsis, syn)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d targets: the test no longer finds them", checked)
	}
}

// isTarget reports whether mage would list fn: a plain function or a method
// of a namespace type, whose results are nothing or a single error.
func isTarget(fn *ast.FuncDecl) bool {
	if fn.Recv != nil {
		if len(fn.Recv.List) != 1 {
			return false
		}
		if _, ptr := fn.Recv.List[0].Type.(*ast.StarExpr); ptr {
			return false
		}
	}
	if fn.Type.Results != nil {
		if len(fn.Type.Results.List) != 1 {
			return false
		}
		if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); !ok || id.Name != "error" {
			return false
		}
	}
	return true
}
