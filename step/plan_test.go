package step

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/internal/fsutil"
)

// In a planning session a step that would run stops the plan only when its
// outputs do not exist yet (what follows reads them); with outputs from an
// earlier run the plan goes on.
func TestPlanStopsAtMissingOutputs(t *testing.T) {
	ctx, dir := useDir(t)
	out := filepath.Join(dir, "out")
	mk := func(v string) Step {
		return Step{Name: "make:out", Inputs: Inputs{Values: map[string]string{"v": v}}, Outputs: []string{out},
			Run: func(context.Context) error { return fsutil.WriteFileBytes(out, []byte(v), 0o644) }}
	}
	r, err := Do(planning(ctx), mk("1"))
	var stop *PlanStop
	if !errors.As(err, &stop) || stop.By != "make:out" || !Planned(err) || !r.WouldRun || r.Ran {
		t.Fatalf("plan without outputs: %+v, %v; want a PlanStop by make:out", r, err)
	}
	if _, err := Do(ctx, mk("1")); err != nil {
		t.Fatal(err)
	}
	plan := planning(ctx)
	r, err = Do(plan, mk("2"))
	if err != nil || !r.WouldRun || r.Ran {
		t.Fatalf("plan with outputs present: %+v, %v; want would-run and no error", r, err)
	}
	if r, err := Do(plan, mk("1")); err != nil || r.WouldRun || r.Reason != "up to date" {
		t.Errorf("up-to-date step in a plan: %+v, %v", r, err)
	}
	if Planned(errors.New("boom")) {
		t.Error("an ordinary error counts as a planned stop")
	}
}

func TestPerform(t *testing.T) {
	for _, tc := range []struct {
		name     string
		plan     bool
		have     bool
		wantRun  bool
		wantStop bool
		wantOut  string
	}{
		{name: "real run", wantRun: true},
		{name: "plan, nothing yet", plan: true, wantStop: true, wantOut: "would fetch the indices\n"},
		{name: "plan, earlier results", plan: true, have: true, wantOut: "would fetch the indices\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, _ := useDir(t)
			if tc.plan {
				ctx = planning(ctx)
			}
			ran := false
			err := Perform(ctx, Effect{What: "fetch the indices", Have: tc.have, Run: func(context.Context) error { ran = true; return nil }})
			if ran != tc.wantRun || Planned(err) != tc.wantStop || (err != nil && !tc.wantStop) {
				t.Errorf("ran=%v err=%v; want ran=%v stop=%v", ran, err, tc.wantRun, tc.wantStop)
			}
			if got := output(ctx); got != tc.wantOut {
				t.Errorf("output %q, want %q", got, tc.wantOut)
			}
		})
	}
	ctx, _ := useDir(t)
	plan := planning(ctx)
	Donef(ctx, "built %s", "x")
	Donef(plan, "built %s", "y")
	if got := output(ctx); !strings.Contains(got, "built x") {
		t.Errorf("Donef in a real run printed %q", got)
	}
	if got := output(plan); got != "" {
		t.Errorf("Donef in a plan printed %q", got)
	}
}
