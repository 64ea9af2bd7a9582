package kernel

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rktbuild/rktbuild/internal/testutil"
)

func TestHeaderLayout(t *testing.T) {
	want := []HeaderCopy{
		{FromSource, "include", "source/include"},
		{FromSource, "arch/x86/include", "source/arch/x86/include"},
		{FromBuild, "include/generated", "source/include/generated"},
		{FromBuild, "arch/x86/include/generated", "source/arch/x86/include/generated"},
	}
	got := HeaderLayout("x86")
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if ModulesDir("6.1.192-rktbuild-v1") != "lib/modules/6.1.192-rktbuild-v1" {
		t.Error(ModulesDir("6.1.192-rktbuild-v1"))
	}
	for _, tt := range []struct {
		arch, want string
	}{{"x86_64", "x86"}, {"i386", "x86"}, {"aarch64", "arm64"}, {"riscv", "riscv"}} {
		if got := (Make{Arch: tt.arch}).SrcArch(); got != tt.want {
			t.Errorf("SrcArch(%s) = %s, want %s", tt.arch, got, tt.want)
		}
	}
}

// TestCopyHeaders lays out a small fake source and build tree (with the
// kbuild bookkeeping files old kernels leave) and checks the result.
func TestCopyHeaders(t *testing.T) {
	src, out, root := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []string{
		"include/linux/kernel.h", "include/linux/.install", "include/linux/..install.cmd",
		"arch/x86/include/asm/io.h", "arch/x86/include/uapi/asm/unistd.h",
		"kernel/reboot.c", "arch/x86/kernel/reboot.c",
	} {
		testutil.WriteFile(t, filepath.Join(src, f), "x\n")
	}
	for _, f := range []string{"include/generated/autoconf.h", "include/generated/.autoconf.h.cmd", "arch/x86/include/generated/asm/unistd_64.h", "vmlinux.o"} {
		testutil.WriteFile(t, filepath.Join(out, f), "x\n")
	}
	// headers_install output with its bookkeeping, as before Linux 5.3.
	rel := "4.16.0-rktbuild-v1"
	testutil.WriteFile(t, filepath.Join(root, "lib/modules", rel, "include/linux/.install"), "")
	testutil.WriteFile(t, filepath.Join(root, "lib/modules", rel, "include/linux/..install.cmd"), "")
	testutil.WriteFile(t, filepath.Join(root, "lib/modules", rel, "include/linux/types.h"), "x\n")

	if err := CopyHeaders(src, out, root, rel, "x86"); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			r, _ := filepath.Rel(root, p)
			got = append(got, r)
		}
		return nil
	})
	sort.Strings(got)
	m := "lib/modules/" + rel + "/"
	want := []string{
		m + "include/linux/types.h",
		m + "source/arch/x86/include/asm/io.h",
		m + "source/arch/x86/include/generated/asm/unistd_64.h",
		m + "source/arch/x86/include/uapi/asm/unistd.h",
		m + "source/include/generated/autoconf.h",
		m + "source/include/linux/kernel.h",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Without the generated headers (kernel not built) it is an error.
	if err := CopyHeaders(src, t.TempDir(), t.TempDir(), rel, "x86"); err == nil || !strings.Contains(err.Error(), "generated") {
		t.Errorf("missing generated headers: %v", err)
	}
}

func TestLineCounter(t *testing.T) {
	var n atomic.Int64
	w := lineCounter{n: &n}
	for _, chunk := range []string{"  CC      kernel/reboot.o\n  AS      arch/x86/entry/entry_64.o\n", "  LD      vmlinux\n  CC      fs/9p/vfs_super.o\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 3 {
		t.Errorf("counted %d objects, want 3", n.Load())
	}
}
