package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// Aci groups the App Container Image targets: pack, validate, inspect,
// extract and patch .aci files (appc spec v0.8.11).
type Aci mg.Namespace

// packOptions reads the packing configuration.
func packOptions(c *config.Config, root *bool) (aci.PackOptions, error) {
	epoch, has, err := c.Epoch()
	if err != nil {
		return aci.PackOptions{}, err
	}
	return aci.PackOptions{Epoch: epoch, HasEpoch: has, ForceRoot: root != nil && *root}, nil
}

// Build packs DIR (manifest and rootfs/) into OUT.aci; prints its ID.
//
// It packs DIR (holding manifest and rootfs/) into OUT.aci and prints
// the image ID.
//
// Usage: mage aci:build DIR OUT.aci [-root] [-level=N]
//
// Entries are sorted; files, directories, symlinks, hardlinks, device
// nodes, FIFOs, setuid/setgid/sticky bits and security.capability are kept;
// owners are numeric (-root records every entry as uid/gid 0). With
// SOURCE_DATE_EPOCH set, mtimes are clamped to it and two builds of the same
// tree are byte-identical. The manifest is validated with the appc schema,
// and the archive rules of aci:validate are checked before anything is
// written (a symlink escaping the rootfs fails the build). Each device
// node or FIFO is kept but reported: rkt cannot run such an image.
// OUT is written atomically. -level sets the gzip level (default 5: within
// 5% of actool's size; 1 is fastest and about 12% larger; the level is
// part of the output bytes).
func (Aci) Build(ctx context.Context, dir, out string, root *bool, level *int) error {
	c, err := load()
	if err != nil {
		return err
	}
	opts, err := packOptions(c, root)
	if err != nil {
		return err
	}
	if level != nil {
		opts.Level = *level
	}
	if step.IsDryRun() {
		step.Summaryf("aci:build: would pack %s into %s", dir, out)
		return nil
	}
	special, err := aci.SpecialFilesInTree(filepath.Join(dir, "rootfs"))
	if err != nil {
		return err
	}
	warnSpecial(dir, special)
	prog := step.NewProgress(ctx, "packing "+filepath.Base(out), -1)
	opts.Progress = prog
	id, err := aci.Pack(ctx, dir, out, opts)
	prog.Done()
	if err != nil {
		return err
	}
	step.Summaryf("wrote %s", out)
	fmt.Println(id)
	return nil
}

// Validate checks an ACI with appc's rules plus rktbuild's (-rkt: strict).
//
// It checks an ACI file with appc/spec's archive and manifest
// validation plus rktbuild's own rules.
//
// Usage: mage aci:validate FILE [-rkt]
//
// Device nodes and FIFOs are valid in an ACI but rkt 1.30.0 hangs
// rendering them: each one is reported as a warning, or, with -rkt, as an
// error (what publish requires).
//
// Our rules: the name ends in .aci; the archive holds exactly manifest and
// rootfs/ at the top with an explicit rootfs directory entry; no duplicate,
// absolute or ".." names; no hardlink or symlink that escapes the rootfs;
// exec and mount points are absolute paths.
func (Aci) Validate(ctx context.Context, file string, rkt *bool) error {
	if err := aci.Validate(file); err != nil {
		return err
	}
	special, err := aci.SpecialFiles(file)
	if err != nil {
		return err
	}
	if rkt != nil && *rkt {
		if err := aci.RktCheck(file); err != nil {
			return err
		}
		step.Summaryf("%s: valid ACI, renderable by rkt", file)
		return nil
	}
	warnSpecial(file, special)
	step.Summaryf("%s: valid ACI", file)
	return nil
}

// warnSpecial prints one warning per device node, FIFO or socket in an
// image, and why rkt cannot run it.
func warnSpecial(what string, special []aci.SpecialFile) {
	for _, s := range special {
		step.Summaryf("warning: %s: rootfs%s is a %s: `rkt run` would hang rendering it; remove it (rkt provides /dev)", what, s.Name, s.Kind)
	}
	if len(special) > 0 {
		step.Summaryf("warning: %s: %d entries rkt cannot render: %s (aci:validate -rkt makes this an error; publish refuses it)", what, len(special), aci.RktDeviceHint)
	}
}

// Manifest prints the image manifest of an ACI file as JSON.
//
// Usage: mage aci:manifest FILE
func (Aci) Manifest(ctx context.Context, file string) error {
	res, err := checkACIFile(file)
	if err != nil {
		return err
	}
	m, err := aci.ParseManifest(file+": manifest", res.Manifest)
	if err != nil {
		return err
	}
	b, err := aci.MarshalManifest(m)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}

// ID prints the image ID of an ACI file (sha512 of the uncompressed tar).
//
// It prints the image ID of an ACI file (sha512- and the hex sha512 of the
// uncompressed tar).
//
// Usage: mage aci:id FILE
func (Aci) ID(ctx context.Context, file string) error {
	res, err := checkACIFile(file)
	if err != nil {
		return err
	}
	fmt.Println(res.ID)
	return nil
}

// checkACIFile checks the whole file with the archive rules (exactly one
// manifest, rootfs/, no duplicates or escapes) before anything is printed
// from it: an image ID or a manifest of a file that is not an ACI would
// mislead.
func checkACIFile(file string) (aci.CheckResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return aci.CheckResult{}, err
	}
	defer f.Close()
	res, err := aci.Check(f)
	if err != nil {
		return res, fmt.Errorf("%s is not a valid ACI: %w (see `mage aci:validate %s`)", file, err, file)
	}
	return res, nil
}

// Extract unpacks an ACI file into DIR (DIR/manifest and DIR/rootfs).
//
// Usage: mage aci:extract FILE DIR
//
// DIR must not exist or be empty. Absolute names, "..", and symlink or
// hardlink escapes are refused with the entry named; nothing is left
// half-extracted. Owners, device nodes and capabilities need root.
func (Aci) Extract(ctx context.Context, file, dir string) error {
	if step.IsDryRun() {
		step.Summaryf("aci:extract: would extract %s into %s", file, dir)
		return nil
	}
	if err := aci.Extract(ctx, file, dir); err != nil {
		return err
	}
	step.Summaryf("extracted %s into %s", file, dir)
	return nil
}

// Patch renames or relabels an ACI's manifest into OUT.aci, signed.
//
// It renames and/or relabels the manifest of FILE, writing OUT.aci and,
// when SIGNING_KEY is set, its signature OUT.aci.asc.
//
// Usage: mage aci:patch FILE OUT.aci [-name=NAME] [-labels=k=v,k2=v2,gone=]
//
// NAME must be a valid appc image name; each label is validated by the
// schema, and "k=" (empty value) removes label k. Every other entry is
// copied unchanged. The signature uses SIGNING_KEY (generated on first use
// from KEY_USE_NAME, KEY_USE_COMMENT, KEY_USE_EMAIL) with the passphrase
// from SIGNING_PASSPHRASE_FILE or $KEY_PASSPHRASE; set SIGNING_KEY= (empty)
// to skip signing.
func (Aci) Patch(ctx context.Context, file, out string, name, labels *string) error {
	c, err := load()
	if err != nil {
		return err
	}
	p := aci.PatchOptions{}
	if name != nil {
		p.Name = *name
	}
	if labels != nil {
		if p.Labels, err = parseLabels(*labels); err != nil {
			return err
		}
	}
	if p.Name == "" && len(p.Labels) == 0 {
		return fmt.Errorf("aci:patch: nothing to change: give -name=NAME and/or -labels=k=v,...")
	}
	if step.IsDryRun() {
		step.Summaryf("aci:patch: would write %s from %s", out, file)
		return nil
	}
	id, err := aci.Patch(ctx, file, out, p)
	if err != nil {
		return err
	}
	step.Summaryf("wrote %s", out)
	if c.SigningKey != "" {
		if err := sign.SignArtifact(c, out); err != nil {
			return fmt.Errorf("aci:patch: signing %s: %w", out, err)
		}
		step.Summaryf("wrote %s.asc", out)
	} else {
		_ = os.Remove(out + ".asc") // a stale signature would not match
	}
	fmt.Println(id)
	return nil
}

// parseLabels parses "k=v,k2=v2".
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-labels: %q is not KEY=VALUE (KEY= removes the label)", kv)
		}
		out[k] = v
	}
	return out, nil
}
