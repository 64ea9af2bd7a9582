package recipes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// RepackageOptions says what Repackage takes and where it writes.
type RepackageOptions struct {
	// Src is an .aci file, or a reference or image ID Locator resolves.
	Src string
	// Name is the new image name.
	Name string
	// Labels set labels; an empty value removes one.
	Labels map[string]string
	// Locator resolves a Src that is not a file.
	Locator Locator
	// OutDir receives <last part of Name>-<version>-<os>-<arch>.aci.
	OutDir string
	// TempDir holds scratch files (a link to a stored blob).
	TempDir string
	// Signer signs the result.
	Signer *sign.Signer
}

// RepackageFile is the file Repackage writes for manifest m in dir:
// the last part of its name, then its version, os and arch labels.
func RepackageFile(dir string, m *schema.ImageManifest) string {
	name := m.Name.String()
	base := name[strings.LastIndex(name, "/")+1:]
	l := aci.LabelMap(m.Labels)
	for _, k := range []string{"version", "os", "arch"} {
		if l[k] != "" {
			base += "-" + l[k]
		}
	}
	return filepath.Join(dir, base+".aci")
}

// Repackage re-publishes an image under a new name (the guide's "add
// public images to your own registry"): it renames and relabels Src's
// manifest, writes the ACI into OutDir and signs it. It returns the file
// written (in a dry run: the file it would write) and its image ID.
func Repackage(ctx context.Context, o RepackageOptions) (string, string, error) {
	in := o.Src
	if _, err := os.Stat(in); err != nil {
		f, err := o.Locator.Image(o.Src)
		if err != nil {
			return "", "", fmt.Errorf("repackage: %s is neither a file nor a known image: %w", o.Src, err)
		}
		in = f
	}
	p := aci.PatchOptions{Name: o.Name, Labels: o.Labels}
	m, err := aci.ReadManifest(in)
	if err != nil {
		return "", "", fmt.Errorf("repackage: %w", err)
	}
	nm, err := aci.ApplyPatch(m, p)
	if err != nil {
		return "", "", fmt.Errorf("repackage: %w", err)
	}
	out := RepackageFile(o.OutDir, nm)
	var id string
	err = step.Perform(ctx, step.Effect{What: "write " + out + " from " + in, Have: true, Run: func(ctx context.Context) (err error) {
		id, err = repackage(ctx, o, in, out, p)
		return err
	}})
	return out, id, err
}

// repackage writes and signs out, Repackage's work once the names are known.
func repackage(ctx context.Context, o RepackageOptions, in, out string, p aci.PatchOptions) (string, error) {
	if !strings.HasSuffix(in, schema.ACIExtension) {
		// A stored blob is named by its ID; the ACI rules want *.aci.
		if err := os.MkdirAll(o.TempDir, 0o755); err != nil {
			return "", err
		}
		tmp, err := os.MkdirTemp(o.TempDir, "repackage-")
		if err != nil {
			return "", err
		}
		defer fsutil.RemoveAll(tmp)
		abs, err := filepath.Abs(in)
		if err != nil {
			return "", err
		}
		link := filepath.Join(tmp, "stored.aci")
		if err := os.Symlink(abs, link); err != nil {
			return "", err
		}
		in = link
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	id, err := aci.Patch(ctx, in, out, p)
	if err != nil {
		return "", fmt.Errorf("repackage: %w", err)
	}
	if err := o.Signer.SignFile(ctx, out); err != nil {
		os.Remove(out)
		return "", fmt.Errorf("repackage: %w", err)
	}
	return id, nil
}
