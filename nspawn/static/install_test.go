package static

import (
	"context"
	"github.com/rktbuild/rktbuild/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// staticBinary compiles a tiny static C program (gcc -static, libc.a).
func staticBinary(t *testing.T, dir string, static bool) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testenv.Skip(t, "needs gcc and libc6-dev: apt-get install build-essential")
	}
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte("int main(void){return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	args := []string{"-o", out, src}
	if static {
		args = append([]string{"-static"}, args...)
	} else {
		out += "-dyn"
		args[1] = out
	}
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		testenv.Skipf(t, "gcc %v: %v: %s", args, err, b)
	}
	return out
}

func TestCheckStatic(t *testing.T) {
	dir := t.TempDir()
	if err := CheckStatic(staticBinary(t, dir, true)); err != nil {
		t.Errorf("static binary: %v", err)
	}
	if err := CheckStatic(staticBinary(t, dir, false)); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic binary: %v", err)
	}
	if err := CheckStatic(filepath.Join(dir, "hello.c")); err == nil {
		t.Error("a C source passes as a static binary")
	}
}

func TestInstall(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := staticBinary(t, dir, true)
	newData, _ := os.ReadFile(bin)
	dest := filepath.Join(dir, "bin")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dest, "systemd-nspawn")
	noOwner := func(context.Context, string) string { return "" }
	distro := func(context.Context, string) string { return "systemd-container" }

	// Fresh directory: installed, no backup.
	res, err := Install(ctx, bin, dest, false, noOwner)
	if err != nil || res.Dest != target || !res.Changed || res.Backup != "" {
		t.Fatalf("fresh: %+v %v", res, err)
	}
	// Same binary again: nothing to do.
	if res, err := Install(ctx, bin, target, false, noOwner); err != nil || res.Changed {
		t.Fatalf("again: %+v %v", res, err)
	}
	// A different file owned by a package is not replaced unless named.
	if err := os.WriteFile(target, []byte("distribution's nspawn"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(ctx, bin, target, false, distro); err == nil || !strings.Contains(err.Error(), "belongs to the distribution package systemd-container") {
		t.Fatalf("distro file: %v", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "distribution's nspawn" {
		t.Fatal("distro file changed")
	}
	// Named explicitly: replaced, original kept as .orig.
	res, err = Install(ctx, bin, target, true, distro)
	if err != nil || res.Backup != target+".orig" {
		t.Fatalf("explicit: %+v %v", res, err)
	}
	if got, _ := os.ReadFile(target + ".orig"); string(got) != "distribution's nspawn" {
		t.Errorf("backup = %q", got)
	}
	if got, _ := os.ReadFile(target); string(got) != string(newData) {
		t.Error("not installed")
	}
	// A second replacement keeps the first backup.
	if err := os.WriteFile(target, []byte("something else"), 0o755); err != nil {
		t.Fatal(err)
	}
	if res, err := Install(ctx, bin, target, true, distro); err != nil || res.Backup != "" {
		t.Fatalf("second: %+v %v", res, err)
	}
	if got, _ := os.ReadFile(target + ".orig"); string(got) != "distribution's nspawn" {
		t.Errorf("first backup overwritten: %q", got)
	}
	// A dynamic binary is refused.
	if _, err := Install(ctx, staticBinary(t, dir, false), filepath.Join(dir, "x"), true, noOwner); err == nil || !strings.Contains(err.Error(), "not installing") {
		t.Errorf("dynamic: %v", err)
	}
}
