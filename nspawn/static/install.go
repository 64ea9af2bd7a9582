package static

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/step"
)

// DefaultInstallDir is where Install puts the binary when no destination
// is given: beside the locally built tools, ahead of /usr/bin in root's
// PATH, and never a file the distribution's packages own.
const DefaultInstallDir = "/usr/local/bin"

// BackupSuffix is appended to the name of a file Install replaces.
const BackupSuffix = ".orig"

// InstallResult says what Install did.
type InstallResult struct {
	Dest    string
	Backup  string // "" when nothing was replaced or the backup existed
	Changed bool
}

// Owner returns the Debian package that owns path ("" when none); it asks
// dpkg.
func Owner(ctx context.Context, path string) string {
	out, err := step.Command(ctx, "dpkg-query", "-S", path).Output()
	if err != nil {
		return ""
	}
	pkg, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
	return pkg
}

// Install copies the built binary to dest (a file, or a directory that
// receives systemd-nspawn; empty means DefaultInstallDir). A file that is
// there is first kept as dest.orig, unless dest.orig exists already (the
// first backup, the distribution's original, is never overwritten).
// Replacing a file that a distribution package owns needs explicit: the
// caller must have named dest itself. The copy is atomic.
func Install(ctx context.Context, binary, dest string, explicit bool, owner func(context.Context, string) string) (InstallResult, error) {
	if err := CheckStatic(binary); err != nil {
		return InstallResult{}, fmt.Errorf("not installing %s: %w (build it with `mage nspawn`)", binary, err)
	}
	if dest == "" {
		dest = DefaultInstallDir
	}
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		dest = filepath.Join(dest, BinaryName)
	}
	if owner == nil {
		owner = Owner
	}
	res := InstallResult{Dest: dest}
	newData, err := os.ReadFile(binary)
	if err != nil {
		return res, err
	}
	if old, err := os.ReadFile(dest); err == nil {
		if bytes.Equal(old, newData) {
			return res, nil
		}
		if pkg := owner(ctx, dest); pkg != "" && !explicit {
			return res, fmt.Errorf("%s belongs to the distribution package %s: not replacing it unless you ask with -dest=%s (a backup is kept as %s%s)",
				dest, pkg, dest, dest, BackupSuffix)
		}
		backup := dest + BackupSuffix
		if _, err := os.Lstat(backup); os.IsNotExist(err) {
			if err := fsutil.CopyFile(dest, backup, 0); err != nil {
				return res, fmt.Errorf("backing up %s: %w", dest, err)
			}
			res.Backup = backup
		}
	} else if !os.IsNotExist(err) {
		return res, err
	}
	if err := fsutil.WriteFileBytes(dest, newData, 0o755); err != nil {
		return res, fmt.Errorf("installing %s: %w", dest, err)
	}
	res.Changed = true
	return res, nil
}
