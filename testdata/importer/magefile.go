//go:build mage

// An example repository that reuses rktbuild's targets under the rkt:
// namespace next to a target of its own. The test in targets/ copies this
// directory to a temporary module and runs mage on it.
package main

import (
	"fmt"

	//mage:import rkt
	_ "github.com/rktbuild/rktbuild/targets"
)

// Hello is the importing repository's own target.
func Hello() { fmt.Println("hello from the importing repository") }
