package recipes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/internal/fsutil"

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
func ExtraOutputs(ctx context.Context, s *Settings, r Recipe, file string) (step.Result, error) {
	outs := []string{SBOMFile(file)}
	if s.OCI() {
		outs = append(outs, oci.LayoutDir(file))
	}
	return step.Do(ctx, step.Step{
		Name: "image-outputs:" + r.Label(),
		Inputs: step.Inputs{Files: []string{file}, Values: map[string]string{
			"formats": strings.Join(s.Formats, ","),
			"epoch":   s.epochValue(),
			"version": Version,
			"sbom":    sbom.Version,
			"oci":     oci.Version,
		}},
		Outputs: outs,
		Run: func(ctx context.Context) error {
			_, err := WriteExtraOutputs(ctx, s, file)
			return err
		},
	})
}

// WriteExtraOutputs writes the SBOM of the ACI file and, when IMAGE_FORMATS
// includes oci, its OCI layout, unconditionally. It returns the layout's
// result (zero without oci).
func WriteExtraOutputs(ctx context.Context, s *Settings, file string) (oci.Result, error) {
	epoch, has := s.Epoch, s.HasEpoch
	doc, n, err := sbom.ForACI(ctx, file, epoch, has)
	if err != nil {
		return oci.Result{}, err
	}
	if err := fsutil.WriteFileBytes(SBOMFile(file), doc, 0o644); err != nil {
		return oci.Result{}, fmt.Errorf("writing the SBOM of %s: %w", file, err)
	}
	step.Summaryf(ctx, "wrote %s (%d packages)", SBOMFile(file), n)
	if !s.OCI() {
		return oci.Result{}, nil
	}
	res, err := oci.WriteLayout(ctx, file, oci.LayoutDir(file), oci.LayoutOptions{Options: oci.Options{Epoch: epoch, HasEpoch: has}, SBOM: doc})
	if err != nil {
		return res, err
	}
	step.Summaryf(ctx, "wrote %s (%s:%s, %s)", res.Dir, res.Repository, res.Tag, res.Digest)
	return res, nil
}

// OCIFormats are the formats ExportOCI writes: a layout directory, or one
// of the archives podman loads.
var OCIFormats = []string{"layout", oci.FormatOCIArchive, oci.FormatDockerArchive}

// ExportOCI writes the ACI file to out as an OCI image layout (format
// "layout" or "") or archive (oci.FormatOCIArchive, oci.FormatDockerArchive),
// its SBOM attached, with mtimes clamped to epoch when hasEpoch. It returns
// a one-line report. A dry run checks the arguments and writes nothing.
func ExportOCI(ctx context.Context, file, out, format string, epoch int64, hasEpoch bool) (string, error) {
	if format == "" {
		format = "layout"
	}
	if !slices.Contains(OCIFormats, format) {
		return "", fmt.Errorf("oci:export: -format=%q: use %s", format, strings.Join(OCIFormats, ", "))
	}
	if out == "" {
		return "", errors.New("oci:export: name the output (a directory for a layout, a .tar file for an archive)")
	}
	var msg string
	err := step.Perform(ctx, step.Effect{What: fmt.Sprintf("export %s as %s to %s", file, format, out), Have: true,
		Run: func(ctx context.Context) (err error) {
			msg, err = exportOCI(ctx, file, out, format, epoch, hasEpoch)
			return err
		}})
	return msg, err
}

// exportOCI does ExportOCI's work once its arguments are checked.
func exportOCI(ctx context.Context, file, out, format string, epoch int64, hasEpoch bool) (string, error) {
	start := time.Now()
	doc, n, err := sbom.ForACI(ctx, file, epoch, hasEpoch)
	if err != nil {
		return "", err
	}
	opts := oci.LayoutOptions{Options: oci.Options{Epoch: epoch, HasEpoch: hasEpoch}, SBOM: doc}
	var res oci.Result
	if format == "layout" {
		res, err = oci.WriteLayout(ctx, file, out, opts)
	} else {
		res, err = oci.WriteArchive(ctx, file, out, format, opts)
	}
	if err != nil {
		return "", err
	}
	var aciSize int64
	if fi, err := os.Stat(file); err == nil {
		aciSize = fi.Size()
	}
	return fmt.Sprintf("exported %s to %s (%s) as %s:%s, manifest %s, layer %d bytes (ACI %d bytes), SBOM %d packages, in %s",
		file, out, format, res.Repository, res.Tag, res.Digest, res.LayerSize, aciSize, n, time.Since(start).Round(time.Millisecond)), nil
}

// ValidateOCI checks the OCI layout dir (tag "" means its only image) with
// the peer tools: skopeo inspect reads it as a registry client would,
// umoci stat walks its config and layer; either failing fails. It returns
// a one-line report.
func ValidateOCI(ctx context.Context, dir, tag string) (string, error) {
	_, desc, err := oci.ReadLayout(dir, tag)
	if err != nil {
		return "", err
	}
	tag = desc.Annotations[oci.AnnotationRefName]
	for _, args := range [][]string{
		{"skopeo", "inspect", "--raw", "oci:" + dir + ":" + tag},
		{"umoci", "stat", "--image", dir + ":" + tag},
	} {
		out, err := step.Command(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("oci:validate: %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return fmt.Sprintf("%s:%s (%s) is valid for skopeo and umoci", dir, tag, desc.Digest), nil
}
