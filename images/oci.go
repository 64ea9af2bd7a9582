package images

import (
	"context"
	"fmt"
	"strings"

	"github.com/rktbuild/rktbuild/internal/fsutil"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/sbom"
	"github.com/rktbuild/rktbuild/step"
)

// SBOMFile is where the SBOM of an ACI file is written: X.aci.spdx.json.
func SBOMFile(aciFile string) string { return aciFile + sbom.Suffix }

// ExtraOutputs writes what goes beside a built ACI: its SBOM always, and
// its OCI image layout (X.oci, the SBOM attached) when IMAGE_FORMATS
// includes oci. It is a step of its own, keyed on the ACI's content and
// the formats, so turning oci on later converts the images without
// rebuilding them.
func ExtraOutputs(ctx context.Context, c *config.Config, r Recipe, file string) (step.Result, error) {
	outs := []string{SBOMFile(file)}
	if c.OCI() {
		outs = append(outs, oci.LayoutDir(file))
	}
	return step.Do(ctx, step.Step{
		Name: "image-outputs:" + r.Label(),
		Inputs: step.Inputs{Files: []string{file}, Values: map[string]string{
			"formats": strings.Join(c.ImageFormats, ","),
			"epoch":   c.SourceDateEpoch,
			"version": Version,
			"sbom":    sbom.Version,
			"oci":     oci.Version,
		}},
		Outputs: outs,
		Run: func(ctx context.Context) error {
			_, err := WriteExtraOutputs(ctx, c, file)
			return err
		},
	})
}

// WriteExtraOutputs writes the SBOM of the ACI file and, when IMAGE_FORMATS
// includes oci, its OCI layout, unconditionally. It returns the layout's
// result (zero without oci).
func WriteExtraOutputs(ctx context.Context, c *config.Config, file string) (oci.Result, error) {
	epoch, has, err := c.Epoch()
	if err != nil {
		return oci.Result{}, err
	}
	doc, n, err := sbom.ForACI(ctx, file, epoch, has)
	if err != nil {
		return oci.Result{}, err
	}
	if err := fsutil.WriteFileBytes(SBOMFile(file), doc, 0o644); err != nil {
		return oci.Result{}, fmt.Errorf("writing the SBOM of %s: %w", file, err)
	}
	step.Summaryf(ctx, "wrote %s (%d packages)", SBOMFile(file), n)
	if !c.OCI() {
		return oci.Result{}, nil
	}
	res, err := oci.WriteLayout(ctx, file, oci.LayoutDir(file), oci.LayoutOptions{Options: oci.Options{Epoch: epoch, HasEpoch: has}, SBOM: doc})
	if err != nil {
		return res, err
	}
	step.Summaryf(ctx, "wrote %s (%s:%s, %s)", res.Dir, res.Repository, res.Tag, res.Digest)
	return res, nil
}
