package aci

import (
	"archive/tar"
	"context"
	"crypto/sha512"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"io"
	"os"
	"path"
	"strings"

	"github.com/appc/spec/aci"
	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/klauspost/pgzip"
)

// PatchOptions says how Patch changes a manifest.
type PatchOptions struct {
	// Name, when set, renames the image.
	Name string
	// Labels are set (added or replaced); a label whose value is "" is
	// removed.
	Labels map[string]string
	// Level is the gzip level of the new file; 0 means DefaultLevel.
	Level int
}

// ApplyPatch returns a copy of m with the patch applied, validated.
func ApplyPatch(m *schema.ImageManifest, p PatchOptions) (*schema.ImageManifest, error) {
	n := *m
	if p.Name != "" {
		id, err := types.NewACIdentifier(p.Name)
		if err != nil {
			return nil, fmt.Errorf("invalid image name %q: %w", p.Name, err)
		}
		n.Name = *id
	}
	if len(p.Labels) > 0 {
		all := LabelMap(m.Labels)
		for k, v := range p.Labels {
			if v == "" {
				delete(all, k)
			} else {
				all[k] = v
			}
		}
		l, err := MakeLabels(all)
		if err != nil {
			return nil, err
		}
		n.Labels = l
	}
	if err := ValidateManifest(&n); err != nil {
		return nil, err
	}
	return &n, nil
}

// Patch writes out, a copy of the ACI file in whose manifest is changed as p
// says; every other entry is copied unchanged, in order. out must end in
// .aci and is written atomically (it may be in itself). It returns the new
// image ID, computed while writing.
func Patch(ctx context.Context, in, out string, p PatchOptions) (string, error) {
	if !strings.HasSuffix(out, schema.ACIExtension) {
		return "", fmt.Errorf("patch: output %q: an ACI file name must end in %s", out, schema.ACIExtension)
	}
	if err := Validate(in); err != nil {
		return "", fmt.Errorf("patch: %w", err)
	}
	old, err := ReadManifest(in)
	if err != nil {
		return "", err
	}
	m, err := ApplyPatch(old, p)
	if err != nil {
		return "", fmt.Errorf("patch %s: %w", in, err)
	}
	mb, err := MarshalManifest(m)
	if err != nil {
		return "", err
	}
	level := p.Level
	if level == 0 {
		level = DefaultLevel
	}
	f, err := os.Open(in)
	if err != nil {
		return "", err
	}
	defer f.Close()
	rc, err := openTar(f)
	if err != nil {
		return "", fmt.Errorf("patch %s: %w", in, err)
	}
	defer rc.Close()
	var id string
	err = fsutil.WriteFile(out, 0o644, func(w io.Writer) error {
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return err
		}
		if err := zw.SetConcurrency(gzipBlock, gzipBlocks); err != nil {
			return err
		}
		h := sha512.New()
		tw := tar.NewWriter(&tee{h: h, z: zw})
		for n := 0; ; n++ {
			if n%64 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			hdr, err := rc.tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("reading %s: %w", in, err)
			}
			if path.Clean(hdr.Name) == aci.ManifestFile {
				hdr.Size = int64(len(mb))
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if _, err := tw.Write(mb); err != nil {
					return err
				}
				continue
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
			if _, err := io.Copy(tw, fsutil.CtxReader(ctx, rc.tr)); err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		id = formatID(h.Sum(nil))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("patch %s into %s: %w", in, out, err)
	}
	return id, nil
}
