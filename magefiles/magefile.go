//go:build mage

// rktbuild builds appc container images (ACI) and custom rkt stage1-kvm
// images. All targets live in the importable package
// github.com/rktbuild/rktbuild/targets, so other repositories can reuse them
// with the same //mage:import line as below.
package main

import (
	//mage:import
	_ "github.com/rktbuild/rktbuild/targets"
)
