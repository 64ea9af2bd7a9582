package targets

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  a b\tc ", want: []string{"a", "b", "c"}},
		{in: `sh -c 'echo "hi there"; exit 3'`, want: []string{"sh", "-c", `echo "hi there"; exit 3`}},
		{in: `a "b \"c\" d" e\ f ''`, want: []string{"a", `b "c" d`, "e f", ""}},
		{in: `'open`, wantErr: "unterminated ' quote"},
		{in: `x\`, wantErr: "trailing backslash"},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("splitWords(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
