package static

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenameMap(t *testing.T) {
	dir := t.TempDir()
	sym := filepath.Join(dir, "libmount.sym")
	if err := os.WriteFile(sym, []byte("MOUNT_2_19 {\nglobal:\n\tmnt_new_fs;\n\tmnt_free_fs;\nlocal:\n\t*;\n};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := PublicSymbols(sym)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != 2 || !pub["mnt_new_fs"] {
		t.Fatalf("PublicSymbols = %v", pub)
	}
	nm := "\nlibmount.a:\n\nla-fs.o:\n0000000000000010 T mnt_new_fs\n0000000000000020 T mnt_free_fs\n" +
		"0000000000000030 T mnt_fs_internal_helper\n\nla-strutils.o:\n0000000000000000 T startswith\n" +
		"0000000000000000 D mkdir_p\n0000000000000000 T startswith\n"
	defined := DefinedGlobals(nm)
	if strings.Join(defined, " ") != "mkdir_p mnt_free_fs mnt_fs_internal_helper mnt_new_fs startswith" {
		t.Fatalf("DefinedGlobals = %v", defined)
	}
	got := string(RenameMap(defined, pub))
	want := "mkdir_p rktbuild_ul_mkdir_p\nmnt_fs_internal_helper rktbuild_ul_mnt_fs_internal_helper\nstartswith rktbuild_ul_startswith\n"
	if got != want {
		t.Errorf("RenameMap =\n%s\nwant\n%s", got, want)
	}
	if _, err := PublicSymbols(filepath.Join(dir, "missing.sym")); err == nil {
		t.Error("missing export list: no error")
	}
}

func TestPkgConfigFiles(t *testing.T) {
	pc := pkgConfigFiles("/b/ul", "2.38.1")
	if !strings.Contains(pc["mount.pc"], "prefix=/b/ul\n") || !strings.Contains(pc["mount.pc"], "Requires.private: blkid") ||
		!strings.Contains(pc["blkid.pc"], "Cflags: -I${includedir}/blkid") {
		t.Errorf("pkg-config files: %v", pc)
	}
}
