package publish

import "github.com/rktbuild/rktbuild/format/aci"

// validate checks the ACI file with the aci package's archive rules (only
// manifest and rootfs/ entries, no escapes, no duplicates, a valid manifest).
func validate(file string) error {
	return aci.Validate(file)
}
