package targets

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rktbuild/rktbuild/step"
)

// fuzzTargets are the `go test -fuzz` targets `mage test` runs, each with
// its seed corpus in testdata/.
var fuzzTargets = []struct{ pkg, name string }{
	{"./config", "FuzzParse"},
	{"./format/aci", "FuzzCheck"},
	{"./registry/publish", "FuzzDiscoveryHTML"},
	{"./registry/fetch", "FuzzImageRef"},
}

// Fuzz runs each fuzz target for a bounded time (FUZZTIME, default 10s).
//
// The targets: the config parser, the manifest/tar checker (Check against
// Validate), discovery HTML parsing (our index.html through the appc
// discovery client) and image references. Each runs alone (-parallel 1,
// the machines have few cores) with a short minimisation; a failing input
// is written under the package's testdata/fuzz/ and becomes a regression
// test of the fast suite once committed. `mage test` runs this after the
// fast suite.
func Fuzz(ctx context.Context) error {
	d := 10 * time.Second
	if v := os.Getenv("FUZZTIME"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			return fmt.Errorf("FUZZTIME=%q is not a positive duration: write it like 10s or 1m", v)
		}
	}
	for _, ft := range fuzzTargets {
		step.Summaryf(ctx, "== fuzz %s %s for %s", ft.pkg, ft.name, d)
		err := (step.Cmd{Live: true}).Run(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+ft.name+"$",
			"-fuzztime", d.String(), "-fuzzminimizetime", "1s", "-parallel", "1", ft.pkg)
		if err != nil {
			return fmt.Errorf("fuzz target %s in %s failed (the failing input is in its testdata/fuzz/): %w", ft.name, ft.pkg, err)
		}
	}
	return nil
}
