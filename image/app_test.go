package image

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
		{in: `$HOME *`, want: []string{"$HOME", "*"}},
		{in: `'open`, wantErr: "unterminated ' quote"},
		{in: `x\`, wantErr: "trailing backslash"},
	}
	for _, tt := range tests {
		got, err := SplitWords(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SplitWords(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseApp(t *testing.T) {
	tests := []struct {
		in      AppFlags
		want    App
		wantErr string
	}{
		{in: AppFlags{}, want: App{}},
		{in: AppFlags{Args: "-c 'exit 3'", Exec: "/bin/sh", Env: "A=1 'B=two words'", DNS: "off"},
			want: App{Args: []string{"-c", "exit 3"}, Exec: []string{"/bin/sh"}, Env: []string{"A=1", "B=two words"}, ResolvConf: "off"}},
		{in: AppFlags{Args: "'x"}, wantErr: "-args: unterminated"},
		{in: AppFlags{Exec: `x\`}, wantErr: "-exec: trailing backslash"},
		{in: AppFlags{Env: `"x`}, wantErr: "-env: unterminated"},
	}
	for _, tt := range tests {
		got, err := ParseApp(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseApp(%+v) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseApp(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
