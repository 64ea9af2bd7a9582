package step

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrPlanned ends a planning pass early: a step that would run has not
// produced its outputs yet, so the work after it (which reads them) cannot
// be planned further. Do and Perform return an error wrapping it only in a
// planning session (Session.DryRun); domain code just returns it like any
// error, and the target layer treats it as the end of the plan (see
// Planned). Outside a planning session it never occurs.
var ErrPlanned = errors.New("the plan ends here")

// PlanStop is the error Do and Perform return when a plan ends early.
type PlanStop struct {
	// By names the step or effect that would run first.
	By string
}

func (e *PlanStop) Error() string {
	return fmt.Sprintf("plan: the rest needs what %s would produce first", e.By)
}

// Unwrap makes errors.Is(err, ErrPlanned) hold.
func (e *PlanStop) Unwrap() error { return ErrPlanned }

// Planned reports whether err only says that a planning pass ended early
// (nothing failed).
func Planned(err error) bool { return errors.Is(err, ErrPlanned) }

// Effect is work done outside any step whose result the following work
// needs: a download, a package-index update, generating a key.
type Effect struct {
	// What it does, as the plan prints it after "would ", e.g.
	// "download kernel patch https://…".
	What string
	// Have says a plan can go on past this effect: the results of an
	// earlier run exist, or what follows does not need them to be planned
	// (a missing key file is a missing input, which plans as "would run").
	Have bool
	// Run does the work.
	Run func(ctx context.Context) error
}

// Perform runs e. In a planning session it runs nothing: it prints "would
// WHAT" and returns nil when e.Have, else a *PlanStop (see ErrPlanned).
func Perform(ctx context.Context, e Effect) error {
	if !SessionFrom(ctx).DryRun {
		return e.Run(ctx)
	}
	Printf(ctx, "would %s\n", e.What)
	if e.Have {
		return nil
	}
	return &PlanStop{By: e.What}
}

// Donef prints a line saying what was done (e.g. "built FILE with id
// ID"). A planning session prints nothing: nothing was done.
func Donef(ctx context.Context, format string, args ...any) {
	if SessionFrom(ctx).DryRun {
		return
	}
	Summaryf(ctx, format, args...)
}

// missingOutput names the first of outputs that does not exist, or "".
func missingOutput(outputs []string) string {
	for _, o := range outputs {
		if _, err := os.Lstat(o); err != nil {
			return o
		}
	}
	return ""
}
