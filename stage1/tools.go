package stage1

import (
	"context"
	_ "embed" // the static helper programs are built from embedded source
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"os"
	"path/filepath"

	"github.com/rktbuild/rktbuild/step"
)

//go:embed mkdir/main.go
var mkdirSource []byte

//go:embed smokeinit/main.go
var smokeInitSource []byte

//go:embed qemuwrap/main.go
var qemuWrapSource []byte

// Program is a static helper built from embedded Go source.
type Program struct {
	Name   string
	Source []byte
}

// The helper programs.
var (
	Mkdir     = Program{"mkdir", mkdirSource}
	SmokeInit = Program{"smokeinit", smokeInitSource}
	// QemuWrap is the /qemu of a from-source stage1-kvm (see qemuwrap).
	QemuWrap = Program{"qemuwrap", qemuWrapSource}
)

// BuildStatic builds p as a static linux/amd64 binary (CGO_ENABLED=0,
// -trimpath, no VCS stamp: the same source and Go give the same bytes) at
// out, atomically. It needs only the Go toolchain that runs mage.
func BuildStatic(ctx context.Context, p Program, out string) error {
	tmp, err := os.MkdirTemp("", "rktbuild-"+p.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module rktbuild.local/"+p.Name+"\n\ngo 1.21\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "main.go"), p.Source, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	bin := filepath.Join(tmp, p.Name)
	err = step.Cmd{Dir: tmp, Env: []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off"}}.
		Run(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", bin, ".")
	if err != nil {
		return fmt.Errorf("building the static %s helper: %w", p.Name, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return fsutil.WriteFileBytes(out, data, 0o755)
}
