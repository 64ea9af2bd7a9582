// Package fsutil holds rktbuild's file-system primitives: atomic writes
// (WriteFile, WriteFileBytes, ReplaceDir), locked temporaries that a later
// run can recognise as stale (CreateTempLocked, MkdirTempLocked,
// SweepStale), advisory locks (Lock), tree removal and copying, hashing a
// file's content, and readers/writers that stop when a context ends.
//
// It imports nothing of rktbuild, so format, signing and store packages use
// it without depending on the build engine (package step).
package fsutil
