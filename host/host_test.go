package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMissingCommandsAndFiles(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "gelf.h")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tool Tool
		miss bool
	}{
		{"command in PATH", Tool{Command: "sh", Package: "dash"}, false},
		{"command not in PATH", Tool{Command: "rktbuild-no-such-tool", Package: "nope"}, true},
		{"file present", Tool{File: file, Package: "libelf-dev"}, false},
		{"file absent", Tool{File: file + ".missing", Package: "libelf-dev"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			miss := Missing(ctx, tc.tool)
			if (len(miss) == 1) != tc.miss {
				t.Errorf("Missing = %v, want missing=%v", miss, tc.miss)
			}
			if ok, _ := tc.tool.Present(ctx); ok == tc.miss {
				t.Errorf("Present = %v, want %v", ok, !tc.miss)
			}
		})
	}
}

// Need names the missing tools and the exact install command when it may
// not install them itself (not root, no apt-get, or a dry run).
func TestNeedNamesToolsAndCommand(t *testing.T) {
	err := need(context.Background(), false, []Tool{
		{Command: "rktbuild-no-such-tool", Package: "pkg-b"},
		{File: "/nonexistent/rktbuild.h", Package: "pkg-a"},
		{Command: "sh", Package: "dash"}})
	want := "missing host tools: rktbuild-no-such-tool, /nonexistent/rktbuild.h; install them with `sudo apt-get install -y pkg-a pkg-b`"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Need error = %v, want %q", err, want)
	}
}

func TestInstallCommandDedupsAndSorts(t *testing.T) {
	got := InstallCommand([]Tool{{Command: "b", Package: "zz"}, {Command: "a", Package: "aa"}, {Command: "c", Package: "zz"}})
	if want := "apt-get install -y aa zz"; got != want {
		t.Errorf("InstallCommand = %q, want %q", got, want)
	}
}
