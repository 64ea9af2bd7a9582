//go:build mage

// rktbuild builds appc container images (ACI) and custom rkt stage1-kvm
// images. All targets live in the importable package
// github.com/rktbuild/rktbuild/targets, so other repositories can reuse them
// with the same //mage:import line as below.
package main

import (
	"context"

	//mage:import
	"github.com/rktbuild/rktbuild/targets"
)

// Short names for namespaced targets. (mage resolves aliases only to targets
// of this file's package, so these are one-line wrappers.)

// Images builds every image recipe in order (same as buildImages).
func Images(ctx context.Context) error { return targets.BuildImages(ctx) }

// Nspawn builds a static systemd-nspawn (same as nspawn:build).
//
// It builds a statically linked systemd-nspawn from the distribution's
// source (same as nspawn:build).
func Nspawn(ctx context.Context) error { return targets.Nspawn{}.Build(ctx) }
