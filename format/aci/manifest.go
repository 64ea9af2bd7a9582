// Package aci reads and writes App Container Images (appc spec v0.8.11):
// deterministic, parallel packing of a manifest and a rootfs into a gzipped
// tar whose image ID is computed while it is written; validation; safe
// extraction; manifest patching. Manifests are always built and checked with
// appc/spec's schema types, never with string templates.
package aci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"

	"github.com/appc/spec/aci"
	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// ACVersion is the appc spec version written into new manifests.
const ACVersion = "0.8.11"

// NewManifest returns a valid image manifest named name (an appc
// ACIdentifier such as "example.com/app") with the given labels. The "os"
// and "arch" labels default to the host's, translated to appc names
// (amd64, aarch64, ...). An invalid name or label is rejected with the
// schema's reason.
func NewManifest(name string, labels map[string]string) (*schema.ImageManifest, error) {
	id, err := types.NewACIdentifier(name)
	if err != nil {
		return nil, fmt.Errorf("invalid image name %q: %w", name, err)
	}
	m := schema.BlankImageManifest()
	m.Name = *id
	all := map[string]string{}
	if _, ok := labels["os"]; !ok {
		goarm := ""
		appOS, appArch, err := types.ToAppcOSArch(runtime.GOOS, runtime.GOARCH, goarm)
		if err != nil {
			return nil, fmt.Errorf("host platform: %w", err)
		}
		all["os"] = appOS
		if _, ok := labels["arch"]; !ok {
			all["arch"] = appArch
		}
	}
	for k, v := range labels {
		all[k] = v
	}
	l, err := MakeLabels(all)
	if err != nil {
		return nil, err
	}
	m.Labels = l
	if err := ValidateManifest(m); err != nil {
		return nil, err
	}
	return m, nil
}

// MakeLabels turns a map into sorted, validated schema labels.
func MakeLabels(labels map[string]string) (types.Labels, error) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := map[types.ACIdentifier]string{}
	for _, k := range keys {
		id, err := types.NewACIdentifier(k)
		if err != nil {
			return nil, fmt.Errorf("invalid label name %q: %w", k, err)
		}
		m[*id] = labels[k]
	}
	l, err := types.LabelsFromMap(m)
	if err != nil {
		return nil, fmt.Errorf("invalid labels: %w", err)
	}
	return l, nil
}

// ValidateManifest checks m with the appc schema (by marshalling and
// unmarshalling it, which runs every type's validation) and adds the checks
// the schema leaves out: exec must start with an absolute path, mount points
// need a unique name and an absolute, clean path.
func ValidateManifest(m *schema.ImageManifest) error {
	_, err := validated(m)
	return err
}

// validated marshals m once and checks the bytes the way a reader of the
// image will (schema round trip plus our own rules).
func validated(m *schema.ImageManifest) ([]byte, error) {
	b, err := m.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("invalid image manifest: %w", schemaErr(err))
	}
	var back schema.ImageManifest
	if err := back.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("invalid image manifest: %w", schemaErr(err))
	}
	return b, checkManifest(&back)
}

// schemaErr strips encoding/json's wrapping so the schema's reason shows.
func schemaErr(err error) error {
	var me *json.MarshalerError
	if errors.As(err, &me) && me.Err != nil {
		return schemaErr(me.Err)
	}
	return err
}

func checkManifest(m *schema.ImageManifest) error {
	if m.ACVersion.LessThanMajor(schema.AppContainerVersion) {
		return fmt.Errorf("invalid image manifest: acVersion %s is older than %s", m.ACVersion, schema.AppContainerVersion)
	}
	if m.App == nil {
		return nil
	}
	a := m.App
	if len(a.Exec) > 0 && !path.IsAbs(a.Exec[0]) {
		return fmt.Errorf("invalid image manifest: app.exec[0] %q must be an absolute path", a.Exec[0])
	}
	seen := map[types.ACName]bool{}
	for i, mp := range a.MountPoints {
		if mp.Name.Empty() {
			return fmt.Errorf("invalid image manifest: app.mountPoints[%d]: name must be set", i)
		}
		if seen[mp.Name] {
			return fmt.Errorf("invalid image manifest: app.mountPoints: duplicate name %q", mp.Name)
		}
		seen[mp.Name] = true
		if !path.IsAbs(mp.Path) || path.Clean(mp.Path) != mp.Path {
			return fmt.Errorf("invalid image manifest: app.mountPoints %q: path %q must be an absolute, clean path", mp.Name, mp.Path)
		}
	}
	return nil
}

// MarshalManifest validates m and returns its canonical bytes (indented
// JSON with a final newline; the same manifest always gives the same bytes).
func MarshalManifest(m *schema.ImageManifest) ([]byte, error) {
	b, err := validated(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ParseManifest parses and validates manifest bytes; src names them in
// errors.
func ParseManifest(src string, b []byte) (*schema.ImageManifest, error) {
	var m schema.ImageManifest
	if err := m.UnmarshalJSON(b); err != nil {
		if why := diagnoseManifest(b); why != "" {
			return nil, fmt.Errorf("%s: invalid image manifest: %s (%w)", src, why, err)
		}
		return nil, fmt.Errorf("%s: invalid image manifest: %w", src, err)
	}
	if err := checkManifest(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &m, nil
}

// ReadManifest returns the validated manifest of the ACI file, reading
// only up to the manifest entry (no full pass: see Open for ID and
// archive checks).
func ReadManifest(file string) (*schema.ImageManifest, error) {
	b, err := RawManifest(file)
	if err != nil {
		return nil, err
	}
	return ParseManifest(file+": manifest", b)
}

// RawManifest returns the manifest entry of the ACI file as stored.
func RawManifest(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rc, err := openTar(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	defer rc.Close()
	for {
		hdr, err := rc.tr.Next()
		if err != nil {
			if errors.Is(err, errEOF) {
				return nil, fmt.Errorf("%s: no manifest entry: not an ACI", file)
			}
			return nil, fmt.Errorf("%s: reading tar: %w", file, err)
		}
		if path.Clean(hdr.Name) == aci.ManifestFile {
			b, err := readAllLimited(rc.tr, maxManifest)
			if err != nil {
				return nil, fmt.Errorf("%s: reading manifest: %w", file, err)
			}
			return b, nil
		}
	}
}
