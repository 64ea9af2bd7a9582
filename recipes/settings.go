package recipes

import (
	"slices"
	"strconv"

	"github.com/rktbuild/rktbuild/rootfs"
)

// FormatOCI is the IMAGE_FORMATS entry that asks for an OCI layout beside
// every image.
const FormatOCI = "oci"

// Settings are what the recipes and their pipeline read. The command
// layer maps the configuration to them (targets/options.go); recipes
// receive them in File, Inputs and Env.
type Settings struct {
	// Registry prefixes image names (ACI_REGISTRY), e.g. example.com/aci.
	Registry string
	// ACIDir receives the recipes' images (S1B_ACI_DIR).
	ACIDir string
	// OutDir holds stage1 images (S1B_OUT_DIR); the locator searches it
	// after ACIDir.
	OutDir string
	// BuildDir holds scratch trees (S1B_BUILD_DIR).
	BuildDir string
	// CacheDir keeps toolchains, Go caches and rendered images (CACHE_DIR).
	CacheDir string
	// BinsDir receives the programs of a repo list (BINS_DIR).
	BinsDir string
	// StoreDir is the image store `mage fetch` fills (STORE_DIR); "" is
	// none.
	StoreDir string
	// GoVersion is the Go builder's toolchain (GO_VERSION), e.g. 1.26.8.
	GoVersion string
	// Rootfs is the base root file system recipes with NeedsRootfs start
	// from (ROOTFS_*); its Suite and Arch name the images, its CacheDir
	// keeps the .debs images install.
	Rootfs rootfs.Options
	// Epoch is SOURCE_DATE_EPOCH when HasEpoch; without it each image
	// derives one (DeriveEpoch).
	Epoch    int64
	HasEpoch bool
	// Jobs is how many repo builds run at a time (S1B_JOBS).
	Jobs int
	// Formats are the IMAGE_FORMATS (aci, and oci for OCI layouts).
	Formats []string
	// SigningKey is the signing key's base path (SIGNING_KEY): its files'
	// content is an input of every image.
	SigningKey string
}

// OCI reports whether Formats asks for OCI layouts.
func (s *Settings) OCI() bool { return slices.Contains(s.Formats, FormatOCI) }

// epochValue is the epoch as a step input ("" when unset).
func (s *Settings) epochValue() string {
	if !s.HasEpoch {
		return ""
	}
	return strconv.FormatInt(s.Epoch, 10)
}
