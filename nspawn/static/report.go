package static

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/step"
)

// Describe runs the built binary's --version and returns the one-line
// report of a build that took took: path, version line, size, whether it
// was rebuilt, the sources it came from and its compiled-in features. A
// binary that does not run is an error.
func (r Result) Describe(ctx context.Context, took time.Duration) (string, error) {
	fi, err := os.Stat(r.Binary)
	if err != nil {
		return "", err
	}
	ver, err := step.Output(ctx, r.Binary, "--version")
	if err != nil {
		return "", fmt.Errorf("the built %s does not run: %w", r.Binary, err)
	}
	state := "up to date"
	if r.Ran {
		state = "built in " + took.Round(time.Second).String()
	}
	first, _, _ := strings.Cut(ver, "\n")
	return fmt.Sprintf("nspawn: %s (%s, %.1f MB, static) %s: %s; features: %s",
		r.Binary, first, float64(fi.Size())/1e6, state,
		"systemd "+r.SystemdVersion+" / util-linux "+r.UtilLinuxVersion+" from "+r.Release,
		FeatureString(ver)), nil
}

// Summary is the one-line report of an install.
func (r InstallResult) Summary() string {
	switch {
	case !r.Changed:
		return fmt.Sprintf("nspawn: %s is already this build", r.Dest)
	case r.Backup != "":
		return fmt.Sprintf("nspawn: installed %s (previous file kept as %s)", r.Dest, r.Backup)
	default:
		return fmt.Sprintf("nspawn: installed %s", r.Dest)
	}
}
