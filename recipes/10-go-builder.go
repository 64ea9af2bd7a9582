package recipes

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/scripts"
	"github.com/rktbuild/rktbuild/step"
)

// GoBuilderPackages are installed into the Go builder (cgo, git sources,
// Makefiles).
var GoBuilderPackages = []string{"ca-certificates", "git", "gcc", "libc6-dev", "make", "pkg-config", "openssh-client"}

// GoBuilderPath is the Go builder image's PATH.
const GoBuilderPath = "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:" + BasePath

// GoBuilderName is the Go builder's image name.
func GoBuilderName(s *Settings) string { return s.Registry + "/go-builder" }

// GoBuilderFile is <S1B_ACI_DIR>/go-builder-go<GO_VERSION>-linux-<arch>.aci.
func GoBuilderFile(s *Settings) string {
	return filepath.Join(s.ACIDir, "go-builder-go"+s.GoVersion+"-linux-"+AppcArch(s.Rootfs.Arch)+".aci")
}

// ToolchainCache is the module cache the Go toolchains are fetched into.
func ToolchainCache(s *Settings) string { return filepath.Join(s.CacheDir, "go-toolchains") }

func init() {
	Register(Recipe{
		Order: 10,
		Name:  "go-builder",
		Deps:  []string{"base"},
		File:  GoBuilderFile,
		Inputs: func(s *Settings) step.Inputs {
			return step.Inputs{Values: map[string]string{
				"name":       GoBuilderName(s),
				"go":         s.GoVersion,
				"packages":   strings.Join(GoBuilderPackages, " "),
				"entrypoint": string(scripts.GoBuildEntrypoint),
				"epoch":      s.epochValue(),
			}}
		},
		Build: func(ctx context.Context, e *Env, out string) error {
			s := e.Settings
			tc, err := FetchToolchain(ctx, s.GoVersion, s.Rootfs.Arch, ToolchainCache(s))
			if err != nil {
				return err
			}
			step.Summaryf(ctx, "Go toolchain %s verified (%s)", tc.Version, tc.Sum)
			b, err := e.FromImage(ctx, "base", GoBuilderName(s))
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.AptInstall(ctx, GoBuilderPackages...); err != nil {
				return err
			}
			b.CopyTree(ctx, tc.Dir, "/usr/local/go")
			if b.Err() == nil {
				if err := FixToolchainModes(filepath.Join(b.Rootfs(), "usr/local/go")); err != nil {
					return err
				}
			}
			configureGoBuilder(b, s, tc.Sum)
			// The toolchain must run inside the image.
			if err := b.Run(ctx, "/usr/local/go/bin/go", "version"); err != nil {
				return fmt.Errorf("the Go toolchain does not run inside the image: %w", err)
			}
			return e.Write(ctx, b, out)
		},
	})
}

// configureGoBuilder lays out the Go builder's directories, entrypoint and
// manifest (everything but the toolchain and packages).
func configureGoBuilder(b *image.Builder, s *Settings, toolchainSum string) {
	b.Mkdir("/go/bin", "/go/src", "/go/pkg", "/build")
	b.WriteFile("/entrypoint.sh", scripts.GoBuildEntrypoint, 0o755)
	b.SetExec("/entrypoint.sh")
	b.SetWorkingDir("/build")
	b.SetEnv("GOROOT", "/usr/local/go")
	b.SetEnv("GOPATH", "/go")
	b.SetEnv("PATH", GoBuilderPath)
	b.SetUser("0")
	b.SetGroup("0")
	b.AddMountPoint("target", "/go/bin", false)
	b.SetLabel("os", "linux")
	b.SetLabel("arch", AppcArch(s.Rootfs.Arch))
	b.SetLabel("version", s.GoVersion)
	b.SetAnnotation("rktbuild.io/go-toolchain-sum", toolchainSum)
}
