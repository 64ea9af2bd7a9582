//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Tests that call sharedImages and the stage1 fleet.
var (
	sharedImagesUsers = []string{"TestImagesRepoBuild", "TestOCI", "TestOCIAndRktFromOneServer",
		"TestRktRunBase", "TestRktGoBuilderRepo", "TestRktAgreesWithMageRun", "TestRktFetchDiscovery"}
	stage1FleetUsers = []string{"TestStage1", "TestStage1FromSource"}
)

// prestartShared starts the suite's two long shared builds in the
// background as soon as the suite starts, when a selected test will need
// them: machine A's kernel build (CPU) and the shared `mage images`
// (mostly downloads and disk). go test runs the sequential tests before
// the parallel ones, so without this the kernel build would only start
// after every sequential test had finished. The tests still call
// sharedImages and sharedStage1Fleet, which wait for the same sync.Once
// and report its error; a prerequisite the test checks for (root, a tool)
// that is missing here just means nothing is prestarted.
func prestartShared() {
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return
	}
	if os.Geteuid() != 0 {
		return
	}
	if selectedAny(sharedImagesUsers) {
		go imagesOnce.Do(buildSharedImages)
	}
	if selectedAny(stage1FleetUsers) && haveTools(stage1FleetTools...) {
		go fleetOnce.Do(func() {
			fleet, fleetErr = startStage1Fleet(context.Background())
			if fleetErr == nil {
				fmt.Fprintf(os.Stderr, "e2e: stage1 machine A built in %s\n", fleet.ATook.Round(time.Second))
			}
		})
	}
}

// selectedAny reports whether -run (and -skip) select one of the named
// top-level tests. Only the pattern's first level counts, as in go test.
func selectedAny(names []string) bool {
	run, skip := flagValue("test.run"), flagValue("test.skip")
	for _, n := range names {
		if matchTop(run, n, true) && !matchTop(skip, n, false) {
			return true
		}
	}
	return false
}

// matchTop matches a top-level test name against the first level of a
// -run/-skip pattern; an empty pattern gives empty. A pattern that does
// not compile selects (go test reports it).
func matchTop(pattern, name string, empty bool) bool {
	if pattern == "" {
		return empty
	}
	first := strings.Split(pattern, "/")[0]
	re, err := regexp.Compile(first)
	return err != nil || re.MatchString(name)
}

// flagValue is the value of a registered flag, or "".
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// haveTools reports whether every tool is on PATH.
func haveTools(tools ...string) bool {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return false
		}
	}
	return true
}
