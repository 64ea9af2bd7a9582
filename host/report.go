package host

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// Group is the tools one target needs.
type Group struct {
	Name  string
	Tools []Tool
}

// Report writes a table of each group's tools (target, tool, ok or
// MISSING, the version line or the package to install) to w, and returns
// the missing tools, each once. It changes nothing.
func Report(ctx context.Context, w io.Writer, groups []Group) []Tool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tTOOL\tSTATUS\tVERSION / INSTALL")
	var missing []Tool
	seen := map[string]bool{}
	for _, g := range groups {
		for i, t := range g.Tools {
			name := g.Name
			if i > 0 {
				name = ""
			}
			ok, version := t.Present(ctx)
			status := "ok"
			if !ok {
				status, version = "MISSING", "apt-get install "+t.Package
				if !seen[t.Name()] {
					seen[t.Name()] = true
					missing = append(missing, t)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, t.Name(), status, version)
		}
	}
	tw.Flush()
	return missing
}
