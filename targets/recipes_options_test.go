package targets

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/rootfs"
)

// TestRecipeSettings checks the one mapping from the configuration to the
// recipes' settings: directories, names, the parsed SOURCE_DATE_EPOCH and
// the rootfs the base image starts from.
func TestRecipeSettings(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want *recipes.Settings
	}{
		{"defaults under set dirs", map[string]string{"ROOTFS_SUITE": "bookworm", "S1B_BUILD_DIR": "/b", "CACHE_DIR": "/c",
			"S1B_ACI_DIR": "/a", "S1B_OUT_DIR": "/o", "BINS_DIR": "/bins", "STORE_DIR": "/s", "ACI_REGISTRY": "aci.example.test",
			"GO_VERSION": "1.26.8", "SIGNING_KEY": "/k/key", "S1B_JOBS": "3"},
			&recipes.Settings{Registry: "aci.example.test", ACIDir: "/a", OutDir: "/o", BuildDir: "/b", CacheDir: "/c",
				BinsDir: "/bins", StoreDir: "/s", GoVersion: "1.26.8", Jobs: 3, Formats: []string{"aci"}, SigningKey: "/k/key",
				Rootfs: rootfs.Options{Suite: "bookworm", Variant: "minbase", Components: []string{"main"}, Packages: []string{}, Arch: "amd64", Builder: "auto",
					Dir: "/b/rootfs/bookworm-amd64", CacheDir: "/c/debs/bookworm-amd64"}}},
		{"epoch and oci", map[string]string{"ROOTFS_SUITE": "bookworm", "S1B_BUILD_DIR": "/b", "CACHE_DIR": "/c", "S1B_ACI_DIR": "/a",
			"S1B_OUT_DIR": "/o", "BINS_DIR": "/bins", "STORE_DIR": "/s", "ACI_REGISTRY": "r", "GO_VERSION": "1.26.8", "SIGNING_KEY": "/k/key",
			"S1B_JOBS": "1", "SOURCE_DATE_EPOCH": "1700000000", "IMAGE_FORMATS": "aci,oci", "ROOTFS_MIRROR": "http://mirror.invalid/debian"},
			&recipes.Settings{Registry: "r", ACIDir: "/a", OutDir: "/o", BuildDir: "/b", CacheDir: "/c",
				BinsDir: "/bins", StoreDir: "/s", GoVersion: "1.26.8", Jobs: 1, Formats: []string{"aci", "oci"}, SigningKey: "/k/key",
				Epoch: 1700000000, HasEpoch: true,
				Rootfs: rootfs.Options{Suite: "bookworm", Mirror: "http://mirror.invalid/debian", Variant: "minbase", Components: []string{"main"}, Packages: []string{},
					Arch: "amd64", Builder: "auto", Dir: "/b/rootfs/bookworm-amd64", CacheDir: "/c/debs/bookworm-amd64"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.Options{Dir: t.TempDir(), LookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }})
			if err != nil {
				t.Fatal(err)
			}
			got, want := RecipeSettings(c), tt.want
			if !reflect.DeepEqual(got, want) {
				t.Errorf("recipeSettings =\n%+v\nwant\n%+v", got, want)
			}
			if got.OCI() != (len(want.Formats) == 2) {
				t.Errorf("OCI() = %v for formats %q", got.OCI(), got.Formats)
			}
			if f := recipes.BaseFile(got); f != filepath.Join("/a", "debian-bookworm-linux-amd64.aci") {
				t.Errorf("BaseFile = %s", f)
			}
		})
	}
}
