//go:build linux

// Command mkdir is the static `mkdir -p` the stage1 image ships at
// /usr/bin/mkdir: rkt's kvm stage1 has no coreutils, and the header
// bind-mount drop-in must create the mount point inside each app's rootfs.
// It accepts the subset of mkdir the drop-in uses: [-p] [-m MODE] DIR...
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	parents, mode := false, os.FileMode(0o755)
	args := os.Args[1:]
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		switch a := args[0]; {
		case a == "-p" || a == "--parents":
			parents = true
		case a == "-m" && len(args) > 1:
			m, err := strconv.ParseUint(args[1], 8, 32)
			if err != nil {
				fail("invalid mode %q", args[1])
			}
			mode = os.FileMode(m)
			args = args[1:]
		case a == "--":
			args = args[1:]
			goto dirs
		default:
			fail("unsupported option %s (supported: -p, -m MODE)", a)
		}
		args = args[1:]
	}
dirs:
	if len(args) == 0 {
		fail("missing operand")
	}
	status := 0
	for _, d := range args {
		var err error
		if parents {
			err = os.MkdirAll(d, mode)
		} else {
			err = os.Mkdir(d, mode)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkdir: %v\n", err)
			status = 1
		}
	}
	os.Exit(status)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mkdir: "+format+"\n", args...)
	os.Exit(2)
}
