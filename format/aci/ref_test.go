package aci

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	cases := []struct {
		ref    string
		name   string
		labels map[string]string
		err    string
	}{
		{"example.com/app", "example.com/app", map[string]string{}, ""},
		{"example.com/app:1.0.0", "example.com/app", map[string]string{"version": "1.0.0"}, ""},
		{"example.com/app:1.0.0,os=linux,arch=amd64", "example.com/app", map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"}, ""},
		{"example.com/app,version=2", "example.com/app", map[string]string{"version": "2"}, ""},
		{"127.0.0.1/rktbuild/hello:1.0.0", "127.0.0.1/rktbuild/hello", map[string]string{"version": "1.0.0"}, ""},
		{"base", "base", map[string]string{}, ""},
		{"example.com/app:1.0+git", "example.com/app", map[string]string{"version": "1.0+git"}, ""},
		{"example.com/app:", "", nil, "empty version"},
		{":1.0", "", nil, "no name"},
		{"", "", nil, "no name"},
		{"example.com/app,os", "", nil, "not label=value"},
		{"example.com/app,=x", "", nil, "not label=value"},
		{"example.com/app,os=linux:1", "", nil, "colon"},
		{"example.com/app:1,version=2", "", nil, "twice"},
		{"example.com/app:1,version=1", "", nil, "twice"},
		{"Example.com/App", "", nil, "ACIdentifier"},
		{"example.com/app,Os=linux", "", nil, "ACIdentifier"},
	}
	for _, tc := range cases {
		r, err := ParseRef(tc.ref)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "NAME[:VERSION]") {
				t.Errorf("ParseRef(%q): %v, want error %q naming the syntax", tc.ref, err, tc.err)
			}
			continue
		}
		if err != nil || r.Name != tc.name || !reflect.DeepEqual(r.Labels, tc.labels) {
			t.Errorf("ParseRef(%q) = %+v, %v; want %q %v", tc.ref, r, err, tc.name, tc.labels)
			continue
		}
		again, err := ParseRef(r.String())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("ParseRef(%q).String() = %q parses to %+v, %v", tc.ref, r.String(), again, err)
		}
	}
}

func TestRefMatches(t *testing.T) {
	r := Ref{Name: "example.com/app", Labels: map[string]string{"version": "1", "arch": "amd64"}}
	cases := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"example.com/app", map[string]string{"version": "1", "arch": "amd64", "os": "linux"}, true},
		{"example.com/app", map[string]string{"version": "2", "arch": "amd64"}, false},
		{"example.com/app", map[string]string{"version": "1"}, false},
		{"example.com/other", map[string]string{"version": "1", "arch": "amd64"}, false},
	}
	for _, tc := range cases {
		if got := r.Matches(tc.name, tc.labels); got != tc.want {
			t.Errorf("%v.Matches(%q, %v) = %v, want %v", r, tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestParseLabelEdits(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{"version=2", map[string]string{"version": "2"}, ""},
		{"a=1, b=2 ,gone=", map[string]string{"a": "1", "b": "2", "gone": ""}, ""},
		{"a=1,,b=2", map[string]string{"a": "1", "b": "2"}, ""},
		{"novalue", nil, "not KEY=VALUE"},
		{"=x", nil, "not KEY=VALUE"},
		{"a=1,a=2", nil, "twice"},
	}
	for _, tc := range cases {
		got, err := ParseLabelEdits("-labels", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "-labels: ") {
				t.Errorf("ParseLabelEdits(%q): %v, want -labels error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLabelEdits(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
