package fsutil

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive flock(2) on the lock file path (created, with its
// directory, when missing), waiting until it is free. The returned func
// releases it. With removeOnRelease the lock file is deleted while still
// held, for lock files beside user data that should not linger; a waiter
// that locked the file just before it was removed notices that its inode is
// no longer the one at path and retries.
func Lock(path string, removeOnRelease bool) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := flock(f, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return func() {
				if removeOnRelease {
					_ = os.Remove(path) // while still holding the lock
				}
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		f.Close() // removed by the previous holder: lock the new file
	}
}

// flock applies how (LOCK_EX, optionally |LOCK_NB) to f, retrying EINTR.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}
