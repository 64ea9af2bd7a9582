//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"time"
)

// runMage runs `go run mage.go ARGS` in the repository root with env added
// and returns the combined output and the duration. Compiling the magefile
// races with other mage runs in the same checkout (mage writes
// magefiles/mage_output_file.go); such a failure is retried.
func runMage(ctx context.Context, env []string, args ...string) (string, time.Duration, error) {
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, "go", append([]string{"run", "mage.go"}, args...)...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		if err != nil && attempt < 5 && strings.Contains(out.String(), "error compiling magefiles") && strings.Contains(out.String(), "mage_output_file.go") {
			time.Sleep(time.Duration(attempt) * 3 * time.Second)
			continue
		}
		return out.String(), time.Since(start), err
	}
}
