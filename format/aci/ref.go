package aci

import (
	"fmt"
	"sort"
	"strings"

	"github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"
)

// Ref is an image reference as rkt reads it on its command line:
// NAME[:VERSION][,label=value...]. The version is the "version" label.
type Ref struct {
	// Name is the image name (an appc identifier, e.g. example.com/app).
	Name string
	// Labels are the requested labels, "version" included when given.
	Labels map[string]string
}

// ParseRef parses NAME[:VERSION][,label=value...] with rkt's rules (the
// appc discovery parser: one colon, right after the name; names and label
// names are appc identifiers) and errors that name the reference and the
// expected form. It is the one image-reference parser: the store, fetch,
// run and the locator use it.
func ParseRef(ref string) (Ref, error) {
	bad := func(format string, a ...any) (Ref, error) {
		return Ref{}, fmt.Errorf("image %q: %s (use NAME[:VERSION][,label=value...], e.g. example.com/app:1.0.0,arch=amd64)", ref, fmt.Sprintf(format, a...))
	}
	parts := strings.Split(ref, ",")
	name, version, hasVersion := strings.Cut(parts[0], ":")
	if name == "" {
		return bad("no name")
	}
	if hasVersion && version == "" {
		return bad("empty version after ':'")
	}
	r := Ref{Name: name, Labels: map[string]string{}}
	if hasVersion {
		r.Labels["version"] = version
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return bad("label %q is not label=value", p)
		}
		if strings.Contains(v, ":") {
			return bad("a colon may only follow the name")
		}
		if _, dup := r.Labels[k]; dup {
			return bad("label %s given twice", k)
		}
		r.Labels[k] = v
	}
	// The checks above give the precise message; rkt's own parser then
	// decides what rkt accepts (identifier syntax, escaping).
	app, err := discovery.NewAppFromString(ref)
	if err != nil {
		return bad("%v", err)
	}
	if app.Name.String() != r.Name || len(app.Labels) != len(r.Labels) {
		return bad("rkt reads it as %s", app)
	}
	for k, v := range app.Labels {
		if r.Labels[k.String()] != v {
			return bad("rkt reads label %s as %q", k, v)
		}
	}
	return r, nil
}

// String prints the reference in the form ParseRef reads: NAME, then
// ":VERSION" when a version label is set, then the other labels sorted.
func (r Ref) String() string {
	s := r.Name
	if v, ok := r.Labels["version"]; ok {
		s += ":" + v
	}
	var ks []string
	for k := range r.Labels {
		if k != "version" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	for _, k := range ks {
		s += "," + k + "=" + r.Labels[k]
	}
	return s
}

// Matches reports whether an image with this name and these labels
// satisfies the reference: the same name and every requested label.
func (r Ref) Matches(name string, labels map[string]string) bool {
	if name != r.Name {
		return false
	}
	for k, v := range r.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ParseLabelEdits parses the label changes of aci:patch and repackage,
// "k=v,k2=v2,gone=": each KEY=VALUE sets a label and KEY= (empty value)
// removes it. Blank items are ignored; what to pass is named in the error.
func ParseLabelEdits(flag, s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not KEY=VALUE (KEY= removes the label)", flag, kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: label %s given twice", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

// LabelMap returns appc labels as a plain map (the inverse of MakeLabels).
func LabelMap(ls types.Labels) map[string]string {
	out := make(map[string]string, len(ls))
	for _, l := range ls {
		out[l.Name.String()] = l.Value
	}
	return out
}
