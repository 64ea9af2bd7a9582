package publish

import (
	"bytes"
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strings"
)

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>ACI registry</title>
{{- range .Prefixes}}
<meta name="ac-discovery" content="{{.}} {{$.Template}}">
<meta name="ac-discovery-pubkeys" content="{{.}} {{$.PubKeys}}">
{{- end}}
</head>
<body>
<h1>ACI registry</h1>
<p>Fetch with <code>rkt fetch NAME[:VERSION]</code> or <code>mage fetch NAME[:VERSION]</code> after trusting the
<a href="pubkeys.gpg">signing key(s)</a> for the name's prefix (<code>rkt trust --prefix PREFIX</code>,
<code>mage trust discover -prefix=PREFIX -fingerprint=FINGERPRINT</code>).</p>
<table>
<tr><th>Name</th><th>Version</th><th>OS</th><th>Arch</th><th>Other labels</th><th>Image ID</th><th>Size</th><th>Files</th></tr>
{{- range .Rows}}
<tr><td>{{.Name}}</td><td>{{.Version}}</td><td>{{.OS}}</td><td>{{.Arch}}</td><td>{{.Other}}</td><td><code title="{{.ID}}">{{.Short}}</code></td><td>{{.Size}}</td><td><a href="{{.Href}}">aci</a> <a href="{{.Href}}.asc">asc</a></td></tr>
{{- end}}
</table>
</body>
</html>
`))

type row struct {
	Name, Version, OS, Arch, Other, ID, Short, Size, Href string
}

// IndexHTML renders the web root's index.html: an ac-discovery and an
// ac-discovery-pubkeys meta tag for every prefix, and a table of the
// published images for people. The output depends only on its arguments.
func IndexHTML(baseURL, tpl string, prefixes []string, entries []Entry) ([]byte, error) {
	base := strings.TrimRight(baseURL, "/")
	var rows []row
	for _, e := range entries {
		var other []string
		for k, v := range e.Labels {
			if k != "version" && k != "os" && k != "arch" {
				other = append(other, k+"="+v)
			}
		}
		sort.Strings(other)
		version := e.Labels["version"]
		if e.IsLatest {
			version = "latest (" + version + ")"
		}
		short := e.ID
		if len(short) > 7+32 {
			short = short[:7+32]
		}
		rows = append(rows, row{Name: e.Name, Version: version, OS: e.Labels["os"], Arch: e.Labels["arch"],
			Other: strings.Join(other, " "), ID: e.ID, Short: short, Size: humanSize(e.Size), Href: hrefPath(e.Path)})
	}
	var buf bytes.Buffer
	err := indexTmpl.Execute(&buf, map[string]any{
		"Prefixes": prefixes,
		"Template": base + "/" + tpl,
		"PubKeys":  base + "/pubkeys.gpg",
		"Rows":     rows,
	})
	return buf.Bytes(), err
}

func hrefPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
