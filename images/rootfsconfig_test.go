package images

import (
	"testing"

	"github.com/rktbuild/rktbuild/config"
)

func TestRootfsOptions(t *testing.T) {
	env := map[string]string{"ROOTFS_SUITE": "bookworm", "S1B_BUILD_DIR": "/b", "CACHE_DIR": "/c"}
	c, err := config.Load(config.Options{Dir: t.TempDir(), LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	o := RootfsOptions(c)
	if o.Dir != "/b/rootfs/bookworm-amd64" || o.CacheDir != "/c/debs/bookworm-amd64" || o.Mirror != "" || o.Variant != "minbase" {
		t.Errorf("RootfsOptions = %+v", o)
	}
}
