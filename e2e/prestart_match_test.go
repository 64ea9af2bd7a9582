//go:build e2e

package e2e

import "testing"

// TestMatchTop checks which -run/-skip patterns make TestMain prestart a
// shared build: only the pattern's first level counts, as in go test.
func TestMatchTop(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		empty, want   bool
	}{
		{"", "TestStage1", true, true},
		{"", "TestStage1", false, false},
		{"Stage1", "TestStage1FromSource", true, true},
		{"Stage1/Smoke", "TestStage1", true, true},
		{"TestOCI$", "TestOCIAndRktFromOneServer", true, false},
		{"TestOCI$", "TestOCI", true, true},
		{"Interrupt|Nspawn", "TestStage1", true, false},
		{"[", "TestStage1", true, true}, // go test reports the bad pattern
	} {
		if got := matchTop(c.pattern, c.name, c.empty); got != c.want {
			t.Errorf("matchTop(%q, %q, %v) = %v, want %v", c.pattern, c.name, c.empty, got, c.want)
		}
	}
}
