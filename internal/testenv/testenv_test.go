package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHelperSkip is run as a subprocess by TestSkipFailsUnderCI.
func TestHelperSkip(t *testing.T) {
	if os.Getenv("TESTENV_HELPER") == "" {
		t.Skip("helper process for TestSkipFailsUnderCI (runs only when re-executed by it)")
	}
	Skip(t, "needs frobnicator")
}

// The same skip is a skip without CI and a failure under CI=true, checked
// on a real test binary run.
func TestSkipFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSkip$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_HELPER=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		if failed != (ci == "true") || !strings.Contains(string(out), "needs frobnicator") {
			t.Errorf("CI=%q: failed=%v\n%s", ci, failed, out)
		}
		if ci == "" && !strings.Contains(string(out), "SKIP") {
			t.Errorf("CI unset: not skipped\n%s", out)
		}
	}
}
