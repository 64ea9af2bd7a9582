package config

import "fmt"

// Image formats IMAGE_FORMATS may name.
const (
	FormatACI = "aci"
	FormatOCI = "oci"
)

// OCI reports whether IMAGE_FORMATS asks for OCI output.
func (c *Config) OCI() bool {
	for _, f := range c.ImageFormats {
		if f == FormatOCI {
			return true
		}
	}
	return false
}

// checkFormats rejects IMAGE_FORMATS values other than aci and oci, and a
// list without aci (the OCI image is made from the ACI).
func (c *Config) checkFormats() error {
	hasACI := false
	for _, f := range c.ImageFormats {
		switch f {
		case FormatACI:
			hasACI = true
		case FormatOCI:
		default:
			return fmt.Errorf("%s: IMAGE_FORMATS=%q: unknown format %q: use aci or aci,oci", c.sources["IMAGE_FORMATS"], c.values["IMAGE_FORMATS"], f)
		}
	}
	if !hasACI {
		return fmt.Errorf("%s: IMAGE_FORMATS=%q must include aci (every OCI image is made from its ACI): use aci or aci,oci", c.sources["IMAGE_FORMATS"], c.values["IMAGE_FORMATS"])
	}
	return nil
}
