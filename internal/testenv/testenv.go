// Package testenv decides what a test does when the machine lacks a tool,
// root or another prerequisite: skip with a message saying what is
// missing, except under CI=true, where the suite runs as root on a machine
// provisioned from .ci/packages and a missing prerequisite is a failure,
// never a silent skip.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// InCI reports whether the suite runs in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test with the message, or fails it under CI=true.
func Skip(t testing.TB, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatal(append([]any{"CI=true: a missing prerequisite is a failure: "}, args...)...)
	}
	t.Skip(args...)
}

// Skipf is Skip with a format.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	Skip(t, fmt.Sprintf(format, args...))
}

// Missing reports a prerequisite that only part of a test needs: it logs
// the message and returns false, or fails the test under CI=true (and
// still returns false).
func Missing(t testing.TB, args ...any) bool {
	t.Helper()
	if InCI() {
		t.Error(append([]any{"CI=true: a missing prerequisite is a failure: "}, args...)...)
		return false
	}
	t.Log(args...)
	return false
}
