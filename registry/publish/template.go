package publish

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// DefaultTemplate is the discovery URL template rkt's documentation uses.
const DefaultTemplate = "{name}-{version}-{os}-{arch}.{ext}"

var templateVar = regexp.MustCompile(`{[^{}]*}`)

// Render fills a discovery URL template with the image name, its labels and
// ext ("aci" or "aci.asc"), as appc discovery does. Every variable must be
// filled: an unfilled one is an error naming it (discovery clients drop such
// templates). A label called "name" does not override the image name.
func Render(tpl, name string, labels map[string]string, ext string) (string, error) {
	var missing []string
	out := templateVar.ReplaceAllStringFunc(tpl, func(v string) string {
		key := v[1 : len(v)-1]
		switch key {
		case "name":
			return name
		case "ext":
			return ext
		}
		if val, ok := labels[key]; ok && val != "" {
			return val
		}
		missing = append(missing, v)
		return v
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("template %q: image %s has no value for %s", tpl, name, strings.Join(missing, ", "))
	}
	// appc discovery drops an endpoint whose rendered URL still matches
	// {.*}, so a brace in a label value would publish an unfetchable path.
	if strings.ContainsAny(out, "{}") {
		return "", fmt.Errorf("template %q: image %s renders to %q, which keeps a brace that discovery clients reject: remove braces from its labels", tpl, name, out)
	}
	return out, nil
}

// CheckTemplate rejects templates that cannot lay out a web root: absolute
// URLs, parent references, and templates without {name} or {ext} (every
// image would land at the same path).
func CheckTemplate(tpl string) error {
	switch {
	case tpl == "":
		return fmt.Errorf("empty URL template: set PUBLISH_URL_TEMPLATE (default %s)", DefaultTemplate)
	case strings.Contains(tpl, "://") || strings.HasPrefix(tpl, "/"):
		return fmt.Errorf("URL template %q must be relative to PUBLISH_BASE_URL, like %s", tpl, DefaultTemplate)
	case !strings.Contains(tpl, "{name}") || !strings.Contains(tpl, "{ext}"):
		return fmt.Errorf("URL template %q must contain {name} and {ext}, like %s", tpl, DefaultTemplate)
	}
	// The template travels in an HTML attribute, space-separated from the
	// prefix: a space, control or non-ASCII character would reach clients
	// as a different URL (found by FuzzDiscoveryHTML).
	for _, r := range tpl {
		if r <= ' ' || r >= 0x7f {
			return fmt.Errorf("URL template %q contains %q: use printable ASCII only (percent-encode anything else)", tpl, r)
		}
	}
	// Braces may only enclose variables: appc discovery rejects a rendered
	// URL that still matches {.*}, so "{{name}}" or a lone "}" would make
	// every image undiscoverable (found by FuzzDiscoveryHTML).
	if rest := templateVar.ReplaceAllString(tpl, ""); strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("URL template %q has a brace outside a {variable}: braces may only enclose variables, like %s", tpl, DefaultTemplate)
	}
	return nil
}

// relPath checks that a rendered template is a safe path inside the web
// root: relative, no "." or ".." elements, no dot files.
func relPath(p string) (string, error) {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Contains(p, "?") || strings.Contains(p, "#") {
		return "", fmt.Errorf("rendered path %q is not a relative web path", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || strings.HasPrefix(el, ".") {
			return "", fmt.Errorf("rendered path %q has an empty, dot or dot-dot element", p)
		}
	}
	return path.Clean(p), nil
}
