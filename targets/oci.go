package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/magefile/mage/mg"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/images"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/sbom"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

var (
	podmanTool = step.Tool{Command: "podman", Package: "podman", VersionArgs: []string{"--version"}}
	skopeoTool = step.Tool{Command: "skopeo", Package: "skopeo", VersionArgs: []string{"--version"}}
	umociTool  = step.Tool{Command: "umoci", Package: "umoci", VersionArgs: []string{"--version"}}
	// runc: crun (podman's default) refuses hybrid cgroup hosts.
	runcTool = step.Tool{Command: "runc", Package: "runc", VersionArgs: []string{"--version"}}
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
	c, err := load()
	if err != nil {
		return err
	}
	file, err := images.FindImage(c, image)
	if err != nil {
		return err
	}
	f := "layout"
	if format != nil && *format != "" {
		f = *format
	}
	if f != "layout" && f != oci.FormatOCIArchive && f != oci.FormatDockerArchive {
		return fmt.Errorf("oci:export: -format=%q: use layout, %s or %s", f, oci.FormatOCIArchive, oci.FormatDockerArchive)
	}
	if out == "" {
		return errors.New("oci:export: name the output (a directory for a layout, a .tar file for an archive)")
	}
	if step.IsDryRun() {
		step.Summaryf("would export %s as %s to %s", file, f, out)
		return nil
	}
	epoch, has, err := c.Epoch()
	if err != nil {
		return err
	}
	start := time.Now()
	doc, n, err := sbom.ForACI(ctx, file, epoch, has)
	if err != nil {
		return err
	}
	opts := oci.LayoutOptions{Options: oci.Options{Epoch: epoch, HasEpoch: has}, SBOM: doc}
	var res oci.Result
	if f == "layout" {
		res, err = oci.WriteLayout(ctx, file, out, opts)
	} else {
		res, err = oci.WriteArchive(ctx, file, out, f, opts)
	}
	if err != nil {
		return err
	}
	fi, _ := os.Stat(file)
	var aciSize int64
	if fi != nil {
		aciSize = fi.Size()
	}
	step.Summaryf("exported %s to %s (%s) as %s:%s, manifest %s, layer %d bytes (ACI %d bytes), SBOM %d packages, in %s",
		file, out, f, res.Repository, res.Tag, res.Digest, res.LayerSize, aciSize, n, time.Since(start).Round(time.Millisecond))
	return nil
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
	c, err := load()
	if err != nil {
		return err
	}
	file, err := images.FindImage(c, image)
	if err != nil {
		return err
	}
	epoch, has, err := c.Epoch()
	if err != nil {
		return err
	}
	n, err := sbom.WriteFile(ctx, file, images.SBOMFile(file), epoch, has)
	if err != nil {
		return err
	}
	step.Summaryf("wrote %s (%d packages)", images.SBOMFile(file), n)
	return nil
}

// Validate checks an OCI layout with skopeo and umoci, the peer tools.
//
// Usage: mage oci:validate DIR [-tag=TAG]
//
// DIR is a layout written by oci:export or `mage images` (X.oci); TAG
// defaults to its only image. skopeo inspect reads it as a registry client
// would, umoci stat walks its config and layer; either failing fails.
func (Oci) Validate(ctx context.Context, dir string, tag *string) error {
	if _, err := load(); err != nil {
		return err
	}
	if err := step.Need(ctx, skopeoTool, umociTool); err != nil {
		return err
	}
	t := ""
	if tag != nil {
		t = *tag
	}
	_, desc, err := oci.ReadLayout(dir, t)
	if err != nil {
		return err
	}
	t = desc.Annotations[oci.AnnotationRefName]
	for _, args := range [][]string{
		{"skopeo", "inspect", "--raw", "oci:" + dir + ":" + t},
		{"umoci", "stat", "--image", dir + ":" + t},
	} {
		out, err := step.Command(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("oci:validate: %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	step.Summaryf("%s:%s (%s) is valid for skopeo and umoci", dir, t, desc.Digest)
	return nil
}

// ociSkipStage1 says that the stage1 image has no OCI form, when
// IMAGE_FORMATS asks for oci (buildStage1 calls it).
func ociSkipStage1(file string) {
	c, err := load()
	if err != nil || !c.OCI() {
		return
	}
	if m, err := aci.ReadManifest(file); err == nil && oci.IsStage1(m) {
		step.Summaryf("IMAGE_FORMATS includes oci, but %s is a rkt stage1 image (rkt-only): no OCI output for it", file)
	}
}

// publishOCISigner loads the signing key for OCI simple signatures when
// any image to publish has an OCI layout beside it (nil otherwise).
func publishOCISigner(c *config.Config, imgs []string) (*openpgp.Entity, error) {
	found := false
	for _, f := range imgs {
		if _, err := os.Stat(filepath.Join(oci.LayoutDir(f), "oci-layout")); err == nil {
			found = true
			break
		}
	}
	if !found || step.IsDryRun() {
		return nil, nil
	}
	pass, err := sign.Passphrase(c)
	if err != nil {
		return nil, err
	}
	signer, err := sign.LoadSigner(sign.KeyFile(c.SigningKey, sign.PrivateKeySuffix), pass)
	if err != nil {
		return nil, fmt.Errorf("publish: signing the OCI images: %w", err)
	}
	return signer, nil
}

// publishOCISummary reports the OCI repositories a publish laid out.
func publishOCISummary(res publish.Result) {
	if len(res.OCI) == 0 {
		return
	}
	var refs []string
	for _, e := range res.OCI {
		refs = append(refs, strings.TrimPrefix(strings.Replace(e.Path, "/manifests/", ":", 1), "v2/"))
	}
	step.Summaryf("publish: OCI %s (signatures under sigstore/)", strings.Join(refs, ", "))
}
