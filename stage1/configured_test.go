package stage1

import (
	"strings"
	"testing"
)

func TestConfiguredManifest(t *testing.T) {
	for _, tc := range []struct {
		name, rkt string
		flat      bool
		want      []string
		wantErr   string
	}{
		{name: "deps", rkt: "1.30.0", want: []string{`"name":"example.com/stage1-kvm"`, `"kernelversion"`, `"6.1.0-rktbuild"`, `coreos.com/rkt/stage1-kvm`}},
		{name: "flat", rkt: "1.30.0", flat: true, want: []string{`"name":"example.com/stage1-kvm"`}},
		{name: "bad version", rkt: "one.two", wantErr: "S1B_UPSTREAM_STAGE1_KVM_VERSION"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ConfiguredManifest("example.com/stage1-kvm", tc.rkt, "6.1.0-rktbuild", tc.flat)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := strings.ReplaceAll(string(b), " ", "")
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("manifest lacks %s:\n%s", w, b)
				}
			}
			if tc.flat && strings.Contains(s, `"dependencies"`) {
				t.Errorf("a flattened stage1 depends on the upstream one:\n%s", b)
			}
		})
	}
}
