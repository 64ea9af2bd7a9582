package targets

import "github.com/rktbuild/rktbuild/host"

// e2eFleetTools are what the stage1 end-to-end tests need besides the
// build: a redis-server on loopback as ccache's remote storage for the
// machines that share one kernel build (e2e/stage1fleet_test.go), and
// ccache itself. The e2e row of the target table names them.
var e2eFleetTools = []host.Tool{
	{Command: "redis-server", Package: "redis-server", VersionArgs: []string{"--version"}},
	ccacheTool,
}
