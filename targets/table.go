package targets

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/rktbuild/rktbuild/host"
	"github.com/rktbuild/rktbuild/step"

	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/nspawn/static"
)

// row is one target's entry in the target table: the host tools it needs
// (checked, and installed when root, before it runs; listed by doctor and
// setup) and, when plan is set, the function `mage plan NAME` dry-runs.
type row struct {
	// name is the mage name, e.g. "buildStage1" or "kernel:build".
	name string
	// tools are the host programs the target runs.
	tools []host.Tool
	// extra are tools the target uses when present (ccache): doctor lists
	// and setup installs them, run does not require them.
	extra []host.Tool
	// plan is the target as `mage plan` calls it; nil: not plannable.
	plan func(context.Context) error
}

// table lists every target that needs host tools or can be planned. It is
// the one registry: doctor, setup, plan and run read it. Adding a target
// means writing its function (calling run) and adding its row here.
var table []row

func init() {
	table = []row{
		{name: "all", plan: All},
		{name: "buildStage1", tools: kernelTools, extra: tools(ccacheTool, upstreamTools), plan: BuildStage1},
		{name: "kernel:build", tools: kernelTools, extra: tools(ccacheTool), plan: Kernel{}.Build},
		{name: "stage1:smoke", tools: tools(kernelTools, qemuTool), plan: Stage1{}.Smoke},
		{name: "stage1:upstream", tools: upstreamTools, plan: Stage1{}.Upstream},
		{name: "nspawn:build", tools: static.Tools, plan: Nspawn{}.Build},
		{name: "rkt:tools", tools: rktTools, plan: Rkt{}.Tools},
		// ROOTFS_BUILDER=auto prefers mmdebstrap where installed.
		{name: "rootfs", tools: tools(debootstrapTool), extra: tools(mmdebstrapTool), plan: Rootfs},
		{name: "buildImages", tools: tools(debootstrapTool, nspawnTool, goTool), extra: tools(mmdebstrapTool), plan: BuildImages},
		{name: "buildRepos", tools: tools(debootstrapTool, nspawnTool, goTool),
			plan: func(ctx context.Context) error { return BuildRepos(ctx, nil, nil) }},
		{name: "run", tools: tools(nspawnTool)},
		{name: "publish", plan: func(ctx context.Context) error { return Publish(ctx, nil) }},
		{name: "certs", plan: Certs},
		{name: "oci:validate", tools: tools(skopeoTool, umociTool)},
		// The end-to-end suite pulls and runs OCI images with real clients,
		// boots the from-source stage1 with rkt's kvm networking.
		{name: "e2e", tools: tools(podmanTool, skopeoTool, umociTool, runcTool, stage1SrcE2ETools, e2eFleetTools)},
		// Each benchmark checks its own tools (bench.List).
		{name: "bench"},
	}
}

// tools flattens tool values and lists into one list, each command once.
func tools(ts ...any) []host.Tool {
	var out []host.Tool
	seen := map[string]bool{}
	add := func(t host.Tool) {
		if !seen[t.Name()] {
			seen[t.Name()] = true
			out = append(out, t)
		}
	}
	for _, t := range ts {
		switch t := t.(type) {
		case host.Tool:
			add(t)
		case []host.Tool:
			for _, x := range t {
				add(x)
			}
		default:
			panic(fmt.Sprintf("targets.tools: %T is not a tool", t))
		}
	}
	return out
}

// lookup returns the table row of the named target (case-insensitive).
func lookup(name string) (row, bool) {
	for _, r := range table {
		if strings.EqualFold(r.name, name) {
			return r, true
		}
	}
	return row{}, false
}

// planNames lists the targets `mage plan` accepts, sorted.
func planNames() []string {
	var names []string
	for _, r := range table {
		if r.plan != nil {
			names = append(names, strings.ToLower(r.name))
		}
	}
	sort.Strings(names)
	return names
}

// run is the body of a thin target: it loads the configuration and puts
// the build session in ctx, checks (and as root installs) the host tools
// the target's row names, then calls fn. In a planning session (`mage
// plan`, DRY_RUN=1) a plan that ends early (step.ErrPlanned: later steps
// need outputs that do not exist yet) is a success.
func run(ctx context.Context, name string, fn func(ctx context.Context, c *config.Config) error) error {
	ctx, c, err := load(ctx)
	if err != nil {
		return err
	}
	if r, ok := lookup(name); ok && len(r.tools) > 0 {
		if err := host.Need(ctx, r.tools...); err != nil {
			return err
		}
	}
	return planEnd(ctx, fn(ctx, c))
}

// planEnd returns err, except that the early end of a plan
// (step.ErrPlanned) in a planning session is no error.
func planEnd(ctx context.Context, err error) error {
	if err != nil && step.SessionFrom(ctx).DryRun && step.Planned(err) {
		step.Summaryf(ctx, "%v", err)
		return nil
	}
	return err
}

// planning reports whether ctx belongs to a plan (`mage plan`, DRY_RUN=1):
// targets that change something outside the build graph say what they
// would do instead.
func planning(ctx context.Context) bool { return step.SessionFrom(ctx).DryRun }
