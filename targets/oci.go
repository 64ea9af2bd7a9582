package targets

import (
	"context"

	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/host"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/sbom"
	"github.com/rktbuild/rktbuild/step"
)

var (
	podmanTool = host.Tool{Command: "podman", Package: "podman", VersionArgs: []string{"--version"}}
	skopeoTool = host.Tool{Command: "skopeo", Package: "skopeo", VersionArgs: []string{"--version"}}
	umociTool  = host.Tool{Command: "umoci", Package: "umoci", VersionArgs: []string{"--version"}}
	// runc: crun (podman's default) refuses hybrid cgroup hosts.
	runcTool = host.Tool{Command: "runc", Package: "runc", VersionArgs: []string{"--version"}}
)

// Oci holds the OCI image targets: every image rktbuild builds can also
// be written as an OCI image layout or archive and pulled by podman.
type Oci mg.Namespace

// Export writes IMAGE as an OCI image layout or a podman-loadable archive.
//
// Usage: mage oci:export IMAGE OUT [-format=layout|oci-archive|docker-archive]
//
// IMAGE is an .aci file, a recipe name (base, go-builder) or an image name
// NAME[:VERSION] in S1B_ACI_DIR. The default format is layout (OUT is a
// directory with oci-layout, index.json and blobs/); oci-archive is that
// layout as one tar (`podman load -i OUT`), docker-archive is `docker save`
// format tagged REPOSITORY:TAG. The image has one layer (the ACI's rootfs)
// and a config mapping the ACI app; its SBOM (SPDX JSON) is attached as an
// OCI referrer. The repository is the ACI name and the tag its version
// label (see README, "OCI images"). The same ACI and SOURCE_DATE_EPOCH give
// the same digests. A rkt stage1 image is refused: it is rkt-only.
func (Oci) Export(ctx context.Context, image, out string, format *string) error {
	return run(ctx, "oci:export", func(ctx context.Context, c *config.Config) error {
		file, err := recipes.FindImage(RecipeSettings(c), image)
		if err != nil {
			return err
		}
		epoch, has, err := c.Epoch()
		if err != nil {
			return err
		}
		msg, err := recipes.ExportOCI(ctx, file, out, deref(format), epoch, has)
		if err == nil {
			step.Summaryf(ctx, "%s", msg)
		}
		return err
	})
}

// Sbom writes IMAGE's SPDX JSON SBOM beside it as X.aci.spdx.json.
//
// Usage: mage oci:sbom IMAGE
//
// The SBOM lists every installed Debian package (version, architecture,
// source package, the licenses its machine-readable copyright file
// declares), the Go toolchain and the Go binaries with their modules.
// `mage images` writes it for every image; this target (re)writes one.
func (Oci) Sbom(ctx context.Context, image string) error {
	return run(ctx, "oci:sbom", func(ctx context.Context, c *config.Config) error {
		file, err := recipes.FindImage(RecipeSettings(c), image)
		if err != nil {
			return err
		}
		epoch, has, err := c.Epoch()
		if err != nil {
			return err
		}
		n, err := sbom.WriteFile(ctx, file, recipes.SBOMFile(file), epoch, has)
		if err == nil {
			step.Summaryf(ctx, "wrote %s (%d packages)", recipes.SBOMFile(file), n)
		}
		return err
	})
}

// Validate checks an OCI layout with skopeo and umoci, the peer tools.
//
// Usage: mage oci:validate DIR [-tag=TAG]
//
// DIR is a layout written by oci:export or `mage images` (X.oci); TAG
// defaults to its only image. skopeo inspect reads it as a registry client
// would, umoci stat walks its config and layer; either failing fails.
func (Oci) Validate(ctx context.Context, dir string, tag *string) error {
	return run(ctx, "oci:validate", func(ctx context.Context, c *config.Config) error {
		msg, err := recipes.ValidateOCI(ctx, dir, deref(tag))
		if err == nil {
			step.Summaryf(ctx, "%s", msg)
		}
		return err
	})
}

// ociSkipStage1 says that the stage1 image has no OCI form, when
// IMAGE_FORMATS asks for oci (buildStage1 calls it).
func ociSkipStage1(ctx context.Context, file string) {
	_, c, err := load(ctx)
	if err != nil || !c.OCI() {
		return
	}
	if m, err := aci.ReadManifest(file); err == nil && oci.IsStage1(m) {
		step.Summaryf(ctx, "IMAGE_FORMATS includes oci, but %s is a rkt stage1 image (rkt-only): no OCI output for it", file)
	}
}
