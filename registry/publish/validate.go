package publish

import (
	"os"

	"github.com/rktbuild/rktbuild/registry/internal/acicheck"
)

// validate checks the ACI file's structure in one pass: every entry inside
// manifest and rootfs/, no escapes, no duplicates.
func validate(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = acicheck.Check(f)
	return err
}
