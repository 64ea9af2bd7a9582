package publish

import "testing"

func TestReservedOCI(t *testing.T) {
	tests := []struct {
		rel  string
		want bool
	}{
		{"v2", true},
		{"v2/_catalog", true},
		{"sigstore/x@sha256=00/signature-1", true},
		{"v2x/app.aci", false},
		{"example.com/v2/app.aci", false},
		{"sigstore.aci", false},
	}
	for _, tt := range tests {
		if got := reservedOCI(tt.rel); got != tt.want {
			t.Errorf("reservedOCI(%q) = %v, want %v", tt.rel, got, tt.want)
		}
	}
}

func TestDockerHost(t *testing.T) {
	tests := []struct{ url, want, err string }{
		{"https://registry.example:8443", "registry.example:8443", ""},
		{"https://aci.rktbuild.local", "aci.rktbuild.local", ""},
		{"not a url", "", "PUBLISH_BASE_URL"},
	}
	for _, tt := range tests {
		got, err := DockerHost(tt.url)
		if got != tt.want || (tt.err == "") != (err == nil) {
			t.Errorf("DockerHost(%q) = %q, %v; want %q (error mentioning %q)", tt.url, got, err, tt.want, tt.err)
		}
	}
}
