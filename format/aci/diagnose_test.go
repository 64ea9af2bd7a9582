package aci

import (
	"strings"
	"testing"
)

// Schema errors that name neither field nor value are completed with both
// (issue 12, case 9).
func TestManifestErrorsNameFieldAndValue(t *testing.T) {
	tests := []struct {
		name, manifest string
		want           []string
	}{
		{"bad acVersion", `{"acKind":"ImageManifest","acVersion":"zero.eight","name":"example.com/x"}`,
			[]string{`acVersion "zero.eight"`, "0.8.11"}},
		{"unknown isolator", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","app":{"exec":["/x"],"user":"0","group":"0","isolators":[{"name":"resource/cpu","value":{"limit":"1"}},{"name":"os/linux/frobnicate","value":{}}]}}`,
			[]string{`app.isolators[1] has the unknown name "os/linux/frobnicate"`, "known isolators are", "resource/memory"}},
		{"bad isolator value", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","app":{"exec":["/x"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"lots"}}]}}`,
			[]string{`app.isolators[0] (name "resource/memory") has an invalid value`, "lots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest("manifest", []byte(tt.manifest))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
