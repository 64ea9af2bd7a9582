package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Temporary outputs are named ".BASE.tmp-PID-RANDOM" and carry an exclusive
// flock(2) that their creator holds for as long as it works on them. A lock
// dies with its process, so a temporary whose lock can be taken belongs to a
// run that is gone (killed, crashed, timed out) and is removed by the next
// run that writes the same output (SweepStale), whatever its PID says.

// tempPattern returns the os.CreateTemp pattern for temporaries of base.
func tempPattern(base string) string {
	return "." + base + ".tmp-" + strconv.Itoa(os.Getpid()) + "-*"
}

// LockedTemp is a temporary file or directory whose flock is held until
// Release.
type LockedTemp struct {
	Path string
	f    *os.File
}

// Release drops the lock; call it after the temporary was renamed into
// place or removed.
func (t *LockedTemp) Release() {
	if t != nil && t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// lockFile takes an exclusive, non-blocking flock on f.
func lockFile(f *os.File) error { return flock(f, unix.LOCK_EX|unix.LOCK_NB) }

// CreateTempLocked creates a temporary file in dir with os.CreateTemp's
// pattern and holds its lock while the returned file is open: close the
// file only after renaming or removing it.
func CreateTempLocked(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return f, nil
}

// MkdirTempLocked creates a temporary directory in dir and holds a lock on
// it until Release.
func MkdirTempLocked(dir, pattern string) (*LockedTemp, error) {
	p, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err == nil {
		err = lockFile(f)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.Remove(p)
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return &LockedTemp{Path: p, f: f}, nil
}

// SweepStale removes the entries of dir matching the glob pattern whose
// lock nobody holds: temporaries left by runs that died. It returns what
// it removed. Entries still locked (a live run, in this process or
// another) are left alone.
func SweepStale(dir, pattern string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, fmt.Errorf("sweeping %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, m := range matches {
		f, err := os.OpenFile(m, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			if errors.Is(err, unix.ELOOP) {
				continue // a symlink is never one of our temporaries
			}
			if os.IsNotExist(err) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		err = lockFile(f)
		if err == unix.EWOULDBLOCK {
			f.Close()
			continue // a live run owns it
		}
		if err != nil {
			f.Close()
			errs = append(errs, fmt.Errorf("locking %s: %w", m, err))
			continue
		}
		// Remove while holding the lock so that no run can adopt it.
		rmErr := RemoveAll(m)
		f.Close()
		if rmErr != nil {
			errs = append(errs, fmt.Errorf("removing stale %s: %w", m, rmErr))
			continue
		}
		removed = append(removed, m)
	}
	return removed, errors.Join(errs...)
}

// sweepFor removes stale temporaries of path (".BASE.tmp-*") and says so
// on standard error (a notice, not part of any output).
func sweepFor(path string) {
	removed, err := SweepStale(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	for _, r := range removed {
		fmt.Fprintf(os.Stderr, "removed %s, left by an interrupted run\n", r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
	}
}
