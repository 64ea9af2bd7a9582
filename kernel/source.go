package kernel

import (
	"context"
	"fmt"
	"github.com/rktbuild/rktbuild/host"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rktbuild/rktbuild/step"
)

// Source kinds (S1B_KERNEL_SOURCE).
const (
	SourceAuto      = "auto"
	SourceKernelOrg = "kernelorg"
	SourceDistro    = "distro"
	SourceLocal     = "local"
)

// ResolveKind turns "auto" (or "") into kernelorg when an upstream version
// is set and distro otherwise, and rejects unknown kinds.
func ResolveKind(kind, version, local string) (string, error) {
	switch kind {
	case "", SourceAuto:
		if version != "" {
			return SourceKernelOrg, nil
		}
		return SourceDistro, nil
	case SourceKernelOrg:
		if version == "" {
			return "", fmt.Errorf("S1B_KERNEL_SOURCE=kernelorg needs S1B_KERNEL_VERSION (e.g. 6.1.112)")
		}
		return kind, nil
	case SourceLocal:
		if local == "" {
			return "", fmt.Errorf("S1B_KERNEL_SOURCE=local needs S1B_KERNEL_LOCAL (a kernel tarball or unpacked tree)")
		}
		return kind, nil
	case SourceDistro:
		return kind, nil
	}
	return "", fmt.Errorf("S1B_KERNEL_SOURCE=%q: expected auto, kernelorg, distro or local", kind)
}

// DistroSourceDir is where Debian and Ubuntu's linux-source-X.Y packages
// put their tarball.
var DistroSourceDir = "/usr/src"

var distroPkgRE = regexp.MustCompile(`^linux-source-([0-9]+)\.([0-9]+)(?:\.([0-9]+))?$`)

// newestDistroPackage picks the highest linux-source-X.Y (Debian) or
// linux-source-X.Y.Z (Ubuntu) among names.
func newestDistroPackage(names []string) string {
	var best string
	var bv [3]int
	for _, n := range names {
		m := distroPkgRE.FindStringSubmatch(strings.TrimSpace(n))
		if m == nil {
			continue
		}
		var v [3]int
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1])
		}
		if best == "" || v[0] > bv[0] || v[0] == bv[0] && (v[1] > bv[1] || v[1] == bv[1] && v[2] > bv[2]) {
			best, bv = m[0], v
		}
	}
	return best
}

// DistroTarball finds (and, as root, installs) the distribution's kernel
// source package and returns its tarball. pkg may be empty: then an
// installed linux-source-X.Y is used, else the newest apt offers
// (linux-source-<major.minor of version> when version is set).
func DistroTarball(ctx context.Context, pkg, version string) (tarball, name string, err error) {
	if pkg == "" && version != "" {
		v, err := ParseVersion(version)
		if err != nil {
			return "", "", err
		}
		pkg = "linux-source-" + v.MajorMinor()
	}
	if pkg == "" {
		m, _ := filepath.Glob(filepath.Join(DistroSourceDir, "linux-source-*.tar.*"))
		var names []string
		for _, f := range m {
			names = append(names, strings.Split(filepath.Base(f), ".tar")[0])
		}
		pkg = newestDistroPackage(names)
	}
	if pkg == "" {
		out, err := step.Output(ctx, "apt-cache", "pkgnames", "linux-source-")
		if err != nil {
			return "", "", fmt.Errorf("finding the distribution's kernel source package: %w (set S1B_KERNEL_DISTRO_PACKAGE or S1B_KERNEL_VERSION)", err)
		}
		pkg = newestDistroPackage(strings.Split(out, "\n"))
		if pkg == "" {
			return "", "", fmt.Errorf("apt offers no linux-source-X.Y package: set S1B_KERNEL_SOURCE=kernelorg with S1B_KERNEL_VERSION, or S1B_KERNEL_LOCAL")
		}
	}
	if !distroPkgRE.MatchString(pkg) {
		return "", "", fmt.Errorf("S1B_KERNEL_DISTRO_PACKAGE=%q: expected linux-source-X.Y (Debian) or linux-source-X.Y.Z (Ubuntu)", pkg)
	}
	find := func() string {
		m, _ := filepath.Glob(filepath.Join(DistroSourceDir, pkg+".tar.*"))
		sort.Strings(m)
		if len(m) > 0 {
			return m[len(m)-1]
		}
		return ""
	}
	if t := find(); t != "" {
		return t, pkg, nil
	}
	if os.Geteuid() != 0 {
		return "", "", fmt.Errorf("kernel source package %s is not installed: run `sudo apt-get install %s` (apt verifies it), or set S1B_KERNEL_SOURCE", pkg, pkg)
	}
	step.Summaryf(ctx, "installing the kernel source package %s", pkg)
	if err := host.InstallPackages(ctx, pkg); err != nil {
		return "", "", err
	}
	if t := find(); t != "" {
		return t, pkg, nil
	}
	return "", "", fmt.Errorf("package %s is installed but %s/%s.tar.* does not exist", pkg, DistroSourceDir, pkg)
}

var makeVarRE = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)[ \t]*=[ \t]*([^\n]*)$`)

// TreeVersion reads the version a kernel tree's top Makefile declares.
func TreeVersion(dir string) (Version, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return Version{}, fmt.Errorf("%s is not a kernel tree: %w", dir, err)
	}
	vars := map[string]string{}
	for _, m := range makeVarRE.FindAllStringSubmatch(string(data), 4) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	s := vars["VERSION"] + "." + vars["PATCHLEVEL"]
	if sl := vars["SUBLEVEL"]; sl != "" && sl != "0" {
		s += "." + sl
	}
	s += vars["EXTRAVERSION"]
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("%s/Makefile: %w", dir, err)
	}
	return v, nil
}
