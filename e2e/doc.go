// Package e2e holds rktbuild's long end-to-end tests (debootstrap, kernel
// builds, qemu boots, static nspawn builds). They need root and host tools
// and are built only with the e2e tag: `go test -tags e2e ./e2e/`, which
// `mage test` runs when the host allows it.
package e2e
