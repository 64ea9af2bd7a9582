// Package stage1 assembles a custom rkt stage1-kvm image: a layer holding a
// kernel built by package kernel (at the path the depended-on rkt version
// boots), its headers, and a systemd drop-in that bind-mounts the headers
// into every app; its manifest carries the stage1 annotations of that rkt
// version and depends on coreos.com/rkt/stage1-kvm, or, when an upstream
// stage1-kvm image is given, is flattened into one image with no
// dependency.
package stage1

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/kernel"
)

// UpstreamName is the image rkt's own stage1-kvm is published as.
const UpstreamName = "coreos.com/rkt/stage1-kvm"

// RktVersion is a rkt release, e.g. 1.30.0.
type RktVersion struct{ Major, Minor, Patch int }

var rktRE = regexp.MustCompile(`^v?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?$`)

// MinRktVersion is the oldest rkt whose stage1 interface this package
// describes (interface-version annotations start at 1.2.0; earlier
// releases had no stable stage1 interface).
var MinRktVersion = RktVersion{1, 2, 0}

// ParseRktVersion parses "1.30.0" (a leading v is accepted).
func ParseRktVersion(s string) (RktVersion, error) {
	m := rktRE.FindStringSubmatch(s)
	if m == nil {
		return RktVersion{}, fmt.Errorf("rkt version %q: expected MAJOR.MINOR.PATCH, e.g. 1.30.0", s)
	}
	var v RktVersion
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	if v.Less(MinRktVersion) {
		return RktVersion{}, fmt.Errorf("rkt version %q: stage1-kvm images for rkt before %s are not supported", s, MinRktVersion)
	}
	return v, nil
}

// String formats the version as rkt labels its stage1 images: 1.30.0.
func (v RktVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less compares versions.
func (v RktVersion) Less(o RktVersion) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

func (v RktVersion) atLeast(major, minor int) bool { return !v.Less(RktVersion{major, minor, 0}) }

// KernelPath is where rkt's kvm flavor looks for the kernel in the stage1
// rootfs: /bzImage up to 1.26, /kernel_image from 1.27
// (stage1/init/init.go).
func KernelPath(v RktVersion) string {
	if v.atLeast(1, 27) {
		return "/kernel_image"
	}
	return "/bzImage"
}

// annotationPrefix prefixes every stage1 entry point annotation.
const annotationPrefix = "coreos.com/rkt/stage1/"

// Annotations returns the stage1 annotations rkt v's stage1-kvm manifest
// carries (stage1/aci/aci-manifest.in with the kvm flavor's enter and stop
// commands), in rkt's order:
//
//   - run=/init, enter=/enter_kvm, gc=/gc: always;
//   - stop=/stop_kvm: from 1.10;
//   - app/rm, app/start, app/stop: from 1.16, app/add from 1.19, with
//     dashed entry points (/app-add) until 1.22 and underscores from 1.23;
//   - attach=/attach: from 1.24;
//   - interface-version: 2 from 1.2, 3 from 1.13, 4 from 1.15, 5 from 1.19,
//     6 from 1.29.
func Annotations(v RktVersion) types.Annotations {
	type kv struct{ k, v string }
	var a []kv
	add := func(k, val string) { a = append(a, kv{annotationPrefix + k, val}) }
	add("run", "/init")
	add("enter", "/enter_kvm")
	add("gc", "/gc")
	if v.atLeast(1, 10) {
		add("stop", "/stop_kvm")
	}
	sep := "-"
	if v.atLeast(1, 23) {
		sep = "_"
	}
	if v.atLeast(1, 19) {
		add("app/add", "/app"+sep+"add")
	}
	if v.atLeast(1, 16) {
		add("app/rm", "/app"+sep+"rm")
		add("app/start", "/app"+sep+"start")
		add("app/stop", "/app"+sep+"stop")
	}
	if v.atLeast(1, 24) {
		add("attach", "/attach")
	}
	iv := "2"
	switch {
	case v.atLeast(1, 29):
		iv = "6"
	case v.atLeast(1, 19):
		iv = "5"
	case v.atLeast(1, 15):
		iv = "4"
	case v.atLeast(1, 13):
		iv = "3"
	}
	add("interface-version", iv)
	out := make(types.Annotations, 0, len(a))
	for _, e := range a {
		out = append(out, types.Annotation{Name: types.ACIdentifier(e.k), Value: e.v})
	}
	return out
}

// ManifestOptions describe the stage1 image.
type ManifestOptions struct {
	Name          string // S1B_STAGE1_NAME
	Rkt           RktVersion
	KernelRelease string
	OS, Arch      string // appc names; default linux, amd64
	// Flattened drops the dependency (the upstream stage1 is included).
	Flattened bool
	// KernelSource, when set, is recorded as rktbuild.io/kernel-source-*
	// annotations (kind, package, version, url, sha256).
	KernelSource *kernel.SourceRecord
}

// KernelSourceAnnotations are the annotations recording where the kernel
// came from: rktbuild.io/kernel-source-{kind,package,version,url,sha256},
// each present when known.
func KernelSourceAnnotations(r kernel.SourceRecord) types.Annotations {
	var a types.Annotations
	for _, kv := range [][2]string{{"kind", r.Kind}, {"package", r.Package}, {"version", r.Version}, {"url", r.URL}, {"sha256", r.SHA256}} {
		if kv[1] != "" {
			a.Set(types.ACIdentifier("rktbuild.io/kernel-source-"+kv[0]), kv[1])
		}
	}
	return a
}

// NewManifest builds the stage1 image manifest with appc/spec types:
// labels version (the rkt version), kernelversion, os and arch; the stage1
// annotations of that rkt version; and, unless flattened, a dependency on
// coreos.com/rkt/stage1-kvm with the same os, arch and version labels.
func NewManifest(o ManifestOptions) (*schema.ImageManifest, error) {
	if o.OS == "" {
		o.OS = "linux"
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.KernelRelease == "" {
		return nil, fmt.Errorf("stage1 manifest: no kernel release")
	}
	m, err := aci.NewManifest(o.Name, map[string]string{
		"version":       o.Rkt.String(),
		"kernelversion": o.KernelRelease,
		"os":            o.OS,
		"arch":          o.Arch,
	})
	if err != nil {
		return nil, fmt.Errorf("stage1 manifest (S1B_STAGE1_NAME=%q): %w", o.Name, err)
	}
	m.Annotations = Annotations(o.Rkt)
	if o.KernelSource != nil {
		for _, a := range KernelSourceAnnotations(*o.KernelSource) {
			m.Annotations.Set(a.Name, a.Value)
		}
	}
	if !o.Flattened {
		labels, err := aci.MakeLabels(map[string]string{"os": o.OS, "arch": o.Arch, "version": o.Rkt.String()})
		if err != nil {
			return nil, err
		}
		m.Dependencies = types.Dependencies{{ImageName: UpstreamName, Labels: labels}}
	}
	if err := aci.ValidateManifest(m); err != nil {
		return nil, err
	}
	return m, nil
}

// ConfiguredManifest returns the JSON manifest of the stage1 image named
// name for the upstream rkt version rktVersion (as S1B_UPSTREAM_STAGE1_KVM_VERSION
// spells it) and kernel release, flattened or depending on the upstream
// stage1.
func ConfiguredManifest(name, rktVersion, release string, flattened bool) ([]byte, error) {
	rkt, err := ParseRktVersion(rktVersion)
	if err != nil {
		return nil, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	m, err := NewManifest(ManifestOptions{Name: name, Rkt: rkt, KernelRelease: release, Flattened: flattened})
	if err != nil {
		return nil, err
	}
	return aci.MarshalManifest(m)
}
