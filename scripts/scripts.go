// Package scripts holds the shell scripts that go into images (entrypoints),
// embedded so that recipes work from any directory and from other
// repositories that import rktbuild's targets.
package scripts

import _ "embed"

// Entrypoint is the base image's /entrypoint.sh: exec "$@".
//
//go:embed entrypoint.sh
var Entrypoint []byte

// GoBuildEntrypoint is the Go builder image's /entrypoint.sh.
//
//go:embed go-build-entrypoint
var GoBuildEntrypoint []byte
