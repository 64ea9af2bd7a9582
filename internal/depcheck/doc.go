// Package depcheck holds the test that enforces the repository's layers:
// a domain package imports only packages of its own or a lower layer, and
// never config or targets (the command layer maps config to typed options).
// See depcheck_test.go for the layers.
package depcheck
