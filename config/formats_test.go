package config

import (
	"strings"
	"testing"
)

func TestImageFormats(t *testing.T) {
	tests := []struct {
		value   string
		oci     bool
		wantErr string
	}{
		{"", false, "must include aci"},
		{"aci", false, ""},
		{"aci,oci", true, ""},
		{"oci aci", true, ""},
		{"oci", false, "must include aci"},
		{"aci,docker", false, `unknown format "docker"`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			env := map[string]string{"IMAGE_FORMATS": tt.value}
			c, err := Load(Options{Dir: t.TempDir(), LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "IMAGE_FORMATS") {
					t.Fatalf("err = %v, want one naming IMAGE_FORMATS and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.OCI() != tt.oci {
				t.Errorf("OCI() = %v", c.OCI())
			}
		})
	}
	c, err := Load(Options{Dir: t.TempDir(), LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil || c.OCI() || len(c.ImageFormats) != 1 {
		t.Errorf("default IMAGE_FORMATS = %q (%v), want aci only", c.ImageFormats, err)
	}
}
