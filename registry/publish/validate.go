package publish

import "github.com/rktbuild/rktbuild/format/aci"

// validate checks the ACI file with the aci package's archive rules (only
// manifest and rootfs/ entries, no escapes, no duplicates, a valid manifest)
// and refuses images rkt cannot render (device nodes, FIFOs).
func validate(file string) error {
	if err := aci.Validate(file); err != nil {
		return err
	}
	return aci.RktCheck(file)
}
