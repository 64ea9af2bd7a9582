package recipes

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/scripts"
	"github.com/rktbuild/rktbuild/step"
)

// BasePath is the PATH of the base image.
const BasePath = "/usr/sbin:/usr/bin:/sbin:/bin"

// BaseName is the base image's name: ${ACI_REGISTRY}/debian-<suite>-base.
func BaseName(s *Settings) string {
	return s.Registry + "/debian-" + s.Rootfs.Suite + "-base"
}

// BaseFile is the base image's file: <S1B_ACI_DIR>/debian-<suite>-linux-<arch>.aci.
func BaseFile(s *Settings) string {
	return filepath.Join(s.ACIDir, "debian-"+s.Rootfs.Suite+"-linux-"+AppcArch(s.Rootfs.Arch)+".aci")
}

func init() {
	Register(Recipe{
		Order:       0,
		Name:        "base",
		NeedsRootfs: true,
		File:        BaseFile,
		Inputs: func(s *Settings) step.Inputs {
			return step.Inputs{Values: map[string]string{
				"name":       BaseName(s),
				"entrypoint": string(scripts.Entrypoint),
				"epoch":      s.epochValue(),
			}}
		},
		Build: func(ctx context.Context, e *Env, out string) error {
			s := e.Settings
			b, err := e.FromRootfs(ctx, BaseName(s))
			if err != nil {
				return err
			}
			defer b.Close()
			b.CleanApt()
			b.WriteFile("/entrypoint.sh", scripts.Entrypoint, 0o755)
			b.SetExec("/entrypoint.sh")
			b.SetWorkingDir("/")
			b.SetEnv("PATH", BasePath)
			b.SetUser("0")
			b.SetGroup("0")
			b.SetLabel("os", "linux")
			b.SetLabel("arch", AppcArch(s.Rootfs.Arch))
			b.SetLabel("version", OSVersion(b.Rootfs(), s.Rootfs.Suite))
			return e.Write(ctx, b, out)
		},
	})
}

// AppcArch translates a Debian architecture to its appc name.
func AppcArch(debArch string) string {
	switch debArch {
	case "arm64":
		return "aarch64"
	case "i386":
		return "i386"
	case "armhf":
		return "armv7l"
	case "armel":
		return "armv6l"
	}
	return debArch
}

// OSVersion returns VERSION_ID from the rootfs's os-release (e.g. "12",
// "16.04"), or fallback when there is none.
func OSVersion(root, fallback string) string {
	for _, f := range []string{"etc/os-release", "usr/lib/os-release"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VERSION_ID="); ok {
				if v = strings.Trim(v, `"'`); v != "" {
					return v
				}
			}
		}
	}
	return fallback
}
