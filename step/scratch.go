package step

import "sync"

// BeforeRun, when set, is called once per process just before the first
// step runs for real: never in a dry run and never when every step is up
// to date, so that read-only targets (config, plan, doctor) write nothing.
// Targets use it to create their scratch directory.
var BeforeRun func()

var beforeRunOnce sync.Once

func beforeRun() {
	if f := BeforeRun; f != nil {
		beforeRunOnce.Do(f)
	}
}
