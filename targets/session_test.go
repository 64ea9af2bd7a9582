package targets

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rktbuild/rktbuild/step"
)

// load puts one session per build in the context: stamps under
// S1B_BUILD_DIR, the S1B_JOBS budget; a dependency that loads again keeps
// it, and a planning session in the context makes the build's session plan.
func TestLoadMakesOneSessionPerBuild(t *testing.T) {
	ctx, c, err := load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := step.SessionFrom(ctx)
	if want := filepath.Join(c.BuildDir, ".stamps"); s.StampDir != want || s.Jobs != c.Jobs {
		t.Errorf("session stamps %s jobs %d, want %s and %d", s.StampDir, s.Jobs, want, c.Jobs)
	}
	if s.BeforeRun == nil {
		t.Error("the session does not fence a new scratch directory before the first step")
	}
	dep, _, err := load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if step.SessionFrom(dep) != s {
		t.Error("a dependency's load made a second session: two job budgets")
	}
	plan := step.NewSession("", 1)
	plan.DryRun = true
	pctx, _, err := load(step.WithSession(context.Background(), plan))
	if err != nil {
		t.Fatal(err)
	}
	if ps := step.SessionFrom(pctx); !ps.DryRun || ps.StampDir != s.StampDir {
		t.Errorf("load under a planning session: dry run %v, stamps %s; want a planning session on the build's stamps", ps.DryRun, ps.StampDir)
	}
}

// planEnd turns the early end of a plan into success only in a planning
// session; every other error stays.
func TestPlanEnd(t *testing.T) {
	plan := step.NewSession(t.TempDir(), 1)
	plan.DryRun = true
	planning := step.WithSession(context.Background(), plan)
	real := step.WithSession(context.Background(), step.NewSession(t.TempDir(), 1))
	stop := &step.PlanStop{By: "kernel:source"}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		wantErr bool
	}{
		{"plan ends early", planning, stop, false},
		{"failure in a plan", planning, context.Canceled, true},
		{"stop outside a plan", real, stop, true},
		{"no error", real, nil, false},
	} {
		if got := planEnd(tc.ctx, tc.err); (got != nil) != tc.wantErr {
			t.Errorf("%s: planEnd = %v, want error %v", tc.name, got, tc.wantErr)
		}
	}
}
