package kernel

import (
	"reflect"
	"testing"
)

// TestCompiles checks the ccache log reading behind the "compiler
// runs" figures and checks on lines in ccache 4.7's format.
func TestCompiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  string
		want []Compile
	}{
		{"miss then hit", `[2026-11-26T10:03:17.391741 17936] Command line: ccache gcc -c a.c -o a.o
[2026-11-26T10:03:17.391810 17936] Source file: a.c
[2026-11-26T10:03:17.506776 17936] Result: cache_miss
[2026-11-26T10:03:17.506780 17936] Result: direct_cache_miss
[2026-11-26T10:03:17.522503 17942] Command line: ccache gcc -c a.c -o a.o
[2026-11-26T10:03:17.522612 17942] Source file: a.c
[2026-11-26T10:03:17.523623 17942] Result: direct_cache_hit
`, []Compile{{"a.c", "a.o"}}},
		{"probes on /dev/null", `[2026-11-26T10:03:17.541045 17943] Command line: ccache gcc -Wa,--version -c -x assembler-with-cpp /dev/null -o /dev/null
[2026-11-26T10:03:17.541129 17943] Source file: /dev/null
[2026-11-26T10:03:17.631998 17943] Result: compiler_produced_empty_output
[2026-11-26T10:03:17.685255 17951] Command line: ccache gcc -c -x c /dev/null -o .tmp_17950/tmp.o
[2026-11-26T10:03:17.685366 17951] Source file: /dev/null
[2026-11-26T10:03:17.786069 17951] Result: cache_miss
`, nil},
		{"interleaved processes, pid reused", `[t 1] Command line: ccache gcc -c x.c -o /o/x.o
[t 2] Command line: ccache gcc -c y.c -o /o/y.o
[t 1] Source file: x.c
[t 2] Source file: y.c
[t 2] Result: remote_storage_hit
[t 1] Result: cache_miss
[t 1] Command line: ccache gcc -c -x c /dev/null
[t 1] Result: cache_miss
`, []Compile{{"x.c", "/o/x.o"}}},
		{"padded pid", `[2026-11-26T10:58:58.908171 8305 ] Command line: ccache gcc -Wp,-MD,/w/out/tools/objtool/.exec-cmd.o.d -Wp,-MT,/w/out/tools/objtool/exec-cmd.o -c -o /w/out/tools/objtool/exec-cmd.o exec-cmd.c
[2026-11-26T10:58:58.908416 8305 ] Source file: exec-cmd.c
[2026-11-26T10:58:59.100000 8305 ] Result: cache_miss
`, []Compile{{"exec-cmd.c", "/w/out/tools/objtool/exec-cmd.o"}}},
		{"no command line seen", "[t 9] Source file: z.c\n[t 9] Result: cache_miss\n", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compiles(tc.log); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
