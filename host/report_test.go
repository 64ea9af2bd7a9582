package host

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	var b bytes.Buffer
	absent := Tool{Command: "rktbuild-no-such-tool", Package: "nope"}
	miss := Report(context.Background(), &b, []Group{
		{Name: "a", Tools: []Tool{{Command: "sh", Package: "dash"}, absent}},
		{Name: "b", Tools: []Tool{absent}},
	})
	if len(miss) != 1 || miss[0].Command != absent.Command {
		t.Errorf("missing = %v, want the absent tool once", miss)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("report has %d lines, want a header and 3 rows:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"TARGET", "TOOL", "STATUS"},
		{"a", "sh", "ok"},
		{"rktbuild-no-such-tool", "MISSING", "apt-get install nope"},
		{"b", "rktbuild-no-such-tool", "MISSING"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}
