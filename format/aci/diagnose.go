package aci

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/appc/spec/schema/types"
)

// diagnoseManifest names the field and value behind an appc schema error
// whose own message names neither ("SemVer is bad", "invalid isolator").
// It returns "" when it finds nothing more specific.
func diagnoseManifest(b []byte) string {
	var loose struct {
		ACVersion string `json:"acVersion"`
		App       *struct {
			Isolators []json.RawMessage `json:"isolators"`
		} `json:"app"`
	}
	if json.Unmarshal(b, &loose) != nil {
		return ""
	}
	if _, err := types.NewSemVer(loose.ACVersion); err != nil {
		return fmt.Sprintf("acVersion %q is not a semantic version: use \"0.8.11\"", loose.ACVersion)
	}
	if loose.App == nil {
		return ""
	}
	for i, raw := range loose.App.Isolators {
		var named struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &named)
		if !isolatorKnown(types.ACIdentifier(named.Name)) {
			return fmt.Sprintf("app.isolators[%d] has the unknown name %q: known isolators are %s", i, named.Name, knownIsolators())
		}
		var iso types.Isolator
		if err := iso.UnmarshalJSON(raw); err != nil {
			return fmt.Sprintf("app.isolators[%d] (name %q) has an invalid value %s: %v", i, named.Name, raw, err)
		}
	}
	return ""
}

func isolatorKnown(n types.ACIdentifier) bool {
	for _, m := range []map[types.ACIdentifier]struct{}{types.ResourceIsolatorNames, types.LinuxIsolatorNames, types.UnixIsolatorNames} {
		if _, ok := m[n]; ok {
			return true
		}
	}
	return false
}

func knownIsolators() string {
	var names []string
	for _, m := range []map[types.ACIdentifier]struct{}{types.ResourceIsolatorNames, types.LinuxIsolatorNames, types.UnixIsolatorNames} {
		for n := range m {
			names = append(names, string(n))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
