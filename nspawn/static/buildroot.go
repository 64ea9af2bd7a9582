package static

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/step"
)

// Exec runs one build command: name with args in c.Dir with c.Env added.
type Exec func(ctx context.Context, c step.Cmd, name string, args ...string) error

// HostExec runs build commands on this machine.
func HostExec(ctx context.Context, c step.Cmd, name string, args ...string) error {
	return c.Run(ctx, name, args...)
}

// ChrootExec runs build commands inside the build root: in a private mount
// namespace (so nothing stays mounted), with /proc and /dev mounted and the
// work directory bound at the same absolute path, so every path the build
// uses means the same file inside and outside.
func ChrootExec(root, work string) Exec {
	return func(ctx context.Context, c step.Cmd, name string, args ...string) error {
		dir := c.Dir
		if dir == "" {
			dir = work
		}
		env := append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8"}, c.Env...)
		wrapped := append([]string{"--mount", "--propagation", "private", "sh", "-ec", chrootScript, "sh", root, work, dir}, env...)
		wrapped = append(append(wrapped, "--", name), args...)
		c.Dir, c.Env = "", nil
		return c.Run(ctx, "unshare", wrapped...)
	}
}

// chrootScript: $1 root, $2 work dir, $3 working directory, then KEY=VALUE
// entries (values without white space) up to "--", then the command.
const chrootScript = `R="$1"; W="$2"; D="$3"; shift 3
mkdir -p "$R$W"
mount --bind "$W" "$R$W"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
ENVS=""
while [ "$1" != "--" ]; do ENVS="$ENVS $1"; shift; done
shift
exec chroot "$R" /usr/bin/env -i $ENVS sh -c 'cd "$0" && exec "$@"' "$D" "$@"`

// BuildRootPackages are installed into the build root besides the minbase
// variant: BuildDeps without what only the host side (apt-get source) needs.
func BuildRootPackages() []string {
	var out []string
	for _, p := range BuildDeps {
		if p != "dpkg-dev" && p != "patch" {
			out = append(out, p)
		}
	}
	return out
}

// buildRoot makes the build root for o.Release with package rootfs
// (cached: rebuilt only when its options change) and returns its
// directory.
func (o Options) buildRoot(ctx context.Context) (string, error) {
	ro := o.Rootfs
	ro.Suite = o.Release
	if ro.Variant == "" {
		ro.Variant = "minbase"
	}
	if len(ro.Components) == 0 {
		ro.Components = []string{"main"}
	}
	ro.Packages = BuildRootPackages()
	if ro.Builder == "" {
		ro.Builder = "debootstrap" // the recipe's tool: mmdebstrap's output differs
	}
	ro.Dir = o.work("rootfs", "buildroot")
	if ro.CacheDir == "" {
		ro.CacheDir = o.work("debs")
	}
	if ro.Arch == "" {
		arch, err := step.Output(ctx, "dpkg", "--print-architecture")
		if err != nil {
			return "", fmt.Errorf("finding the host architecture: %w", err)
		}
		ro.Arch = arch
	}
	if err := ro.Check(); err != nil {
		return "", fmt.Errorf("nspawn build root: %w", err)
	}
	cache, err := filepath.Abs(ro.CacheDir)
	if err != nil {
		return "", err
	}
	ro.CacheDir = cache
	in := ro.Inputs()
	in.Values["recipe"] = Recipe
	_, err = step.Do(ctx, step.Step{
		Name:    "nspawn:buildroot",
		Inputs:  in,
		Outputs: []string{filepath.Join(ro.Dir, "etc", "os-release")},
		Run: func(ctx context.Context) error {
			step.Summaryf(ctx, "nspawn: build root for %s with %s", ro.Suite, strings.Join(ro.Packages, " "))
			return rootfs.Bootstrap(ctx, ro)
		},
	})
	if err != nil {
		return "", fmt.Errorf("nspawn build root: %w", err)
	}
	return ro.Dir, nil
}
