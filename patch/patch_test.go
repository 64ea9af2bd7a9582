package patch

import (
	"strings"
	"testing"
)

func TestFiles(t *testing.T) {
	p := "--- a/kernel/reboot.c\t2024-01-01\n+++ b/kernel/reboot.c\t2024-01-02\n@@ -1 +1 @@\n-a\n+b\n" +
		"diff --git a/new.h b/new.h\n--- /dev/null\n+++ b/include/new.h\n@@ -0,0 +1 @@\n+x\n" +
		"--- a/gone.c\n+++ /dev/null\n" + "--- a/x\n+++ b/../../etc/passwd\n"
	got := strings.Join(Files([]byte(p)), " ")
	if got != "include/new.h kernel/reboot.c" {
		t.Errorf("Files = %q", got)
	}
}
