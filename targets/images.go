package targets

import (
	"context"
	"errors"
	"strings"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/host"
	"github.com/rktbuild/rktbuild/image"
	"github.com/rktbuild/rktbuild/nspawn"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/step"
)

var (
	debootstrapTool = host.Tool{Command: "debootstrap", Package: "debootstrap", VersionArgs: []string{"--version"}}
	nspawnTool      = host.Tool{Command: "systemd-nspawn", Package: "systemd-container", VersionArgs: []string{"--version"}}
	goTool          = host.Tool{Command: "go", Package: "golang-go", VersionArgs: []string{"version"}}
	mmdebstrapTool  = host.Tool{Command: "mmdebstrap", Package: "mmdebstrap", VersionArgs: []string{"--version"}}
)

// Rootfs builds the base root file system (minbase) when its inputs changed.
//
// It debootstraps the base root file system into
// <S1B_BUILD_DIR>/rootfs/<suite>-<arch>, reusing downloaded .debs from
// <CACHE_DIR>/debs; it runs only when its inputs changed.
//
// Config: ROOTFS_SUITE (default xenial; bookworm on Debian-only networks),
// ROOTFS_MIRROR (empty: debootstrap's default), ROOTFS_KEYRING,
// ROOTFS_VARIANT, ROOTFS_COMPONENTS, ROOTFS_PACKAGES, ROOTFS_ARCH,
// S1B_BUILD_DIR, CACHE_DIR. Needs root and debootstrap.
func Rootfs(ctx context.Context) error {
	return run(ctx, "rootfs", func(ctx context.Context, c *config.Config) error {
		o := rootfsOptions(c)
		res, err := rootfs.Build(ctx, o)
		if err == nil && !res.Ran {
			step.Donef(ctx, "rootfs %s: %s", o.Dir, res.Reason)
		}
		return err
	})
}

// BuildImages builds every image recipe in dependency order.
//
// It builds every image recipe in order (00-base, 10-go-builder,
// ...), each only when its inputs changed, and prints a status table.
//
// Writes <S1B_ACI_DIR>/debian-<suite>-linux-<arch>.aci and
// go-builder-go<GO_VERSION>-linux-<arch>.aci, each with a .asc signature
// by SIGNING_KEY (generated on first use). Config: ACI_REGISTRY,
// ROOTFS_*, GO_VERSION, SIGNING_KEY, SOURCE_DATE_EPOCH, S1B_ACI_DIR,
// CACHE_DIR. Needs root, debootstrap, systemd-nspawn and go (the Go
// toolchain is fetched and verified through the module proxy).
func BuildImages(ctx context.Context) error {
	return buildImageSet(ctx, nil)
}

// Image builds the named images plus what they depend on, in order.
//
// Usage: mage image "go-builder" (names separated by spaces or commas;
// short names or NN-name labels as listed by the error for an unknown
// name). Config as for buildImages.
func Image(ctx context.Context, names string) error {
	list := config.Fields(names)
	if len(list) == 0 {
		return errors.New("image: name at least one image (e.g. base, go-builder)")
	}
	return buildImageSet(ctx, list)
}

func buildImageSet(ctx context.Context, names []string) error {
	return run(ctx, "buildImages", func(ctx context.Context, c *config.Config) error {
		sts, err := recipes.BuildSet(ctx, RecipeSettings(c), signerFor(c), names)
		if len(sts) > 0 {
			printStatus(ctx, sts)
		}
		return err
	})
}

// Run runs an image's app with systemd-nspawn, as `rkt run` did.
//
// It runs an image's app with systemd-nspawn, as `rkt run` did: the
// signature is verified against the trust store (TRUST_DIR; images signed
// by this machine's own SIGNING_KEY are accepted too) unless -insecure,
// the image and its dependencies are rendered into <CACHE_DIR>/rendered/<image
// ID> (reused next time), and the app runs with its exec, environment,
// user and working directory on a throw-away overlay. Its exit code becomes
// mage's.
//
// Usage: mage run IMAGE [-args="ARGS"] [-exec=CMD] [-env="K=V ..."]
//
//	[-volume="NAME,kind=host,source=PATH[,readOnly=true] ..."]
//	[-mount="volume=NAME,target=PATH ..."] [-insecure] [-dns=MODE]
//
// IMAGE is an .aci file, a recipe name (base, go-builder) or an image name
// NAME[:VERSION] in S1B_ACI_DIR. -args are appended to the image's exec
// (rkt's `-- ARGS`; quote with ' or "), -exec replaces it. Several volumes
// or mounts are separated by spaces. -dns is systemd-nspawn's
// --resolv-conf mode (default replace-host).
func Run(ctx context.Context, imageRef string, args, exec, env, volume, mount *string, insecure *bool, dns *string) error {
	return run(ctx, "run", func(ctx context.Context, c *config.Config) error {
		a, err := image.ParseApp(image.AppFlags{Args: deref(args), Exec: deref(exec), Env: deref(env), Volumes: deref(volume), Mounts: deref(mount), DNS: deref(dns)})
		if err != nil {
			return err
		}
		err = recipes.RunImage(ctx, RecipeSettings(c), verifierFor(c), imageRef, a, insecure != nil && *insecure)
		if code := nspawn.ExitCode(err); err != nil && code > 0 {
			return mg.Fatalf(code, "%s exited with status %d", imageRef, code)
		}
		return err
	})
}

// BuildRepos builds every program of a repo list with the Go builder.
//
// It builds every program in a repo list with the Go builder image
// (built first when needed): one target per line (IMPORT/PATH[@VERSION], a
// git URL honouring $BUILD_BRANCH, or a ./local directory built with its
// Makefile, build script or go build), '#' comments and blank lines
// allowed. Artifacts land in <BINS_DIR>/<entry>.
//
// Usage: mage buildRepos [-file=FILE] [-offline]
//
// FILE defaults to REPO_LIST. -offline builds with no network from the
// module cache only (what earlier runs downloaded).
//
// Runs up to S1B_JOBS builds at a time, output prefixed by entry; a failed
// entry does not stop the others; ends with a table and fails when any
// entry failed. $GOPROXY, $GOFLAGS, $GOPRIVATE, $GONOSUMDB, $GOSUMDB,
// $GOTOOLCHAIN pass through. Module and build caches live in CACHE_DIR.
func BuildRepos(ctx context.Context, file *string, offline *bool) error {
	return run(ctx, "buildRepos", func(ctx context.Context, c *config.Config) error {
		list := c.RepoList
		if deref(file) != "" {
			list = *file
		}
		sts, _, err := recipes.BuildRepos(ctx, RecipeSettings(c), signerFor(c), verifierFor(c), list, deref(offline))
		if err != nil && len(sts) > 0 && sts[len(sts)-1].Err != nil {
			printStatus(ctx, sts)
		}
		return err
	})
}

// printStatus prints the status table of image builds.
func printStatus(ctx context.Context, sts []recipes.Status) {
	var b strings.Builder
	recipes.WriteStatus(&b, sts)
	step.Printf(ctx, "%s", b.String())
}

// deref is the value of an optional mage flag (its zero value when unset).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
