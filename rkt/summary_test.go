package rkt

import (
	"testing"
	"time"
)

func TestToolsSummary(t *testing.T) {
	for _, tc := range []struct {
		t    Tools
		want string
	}{
		{Tools{Rkt: "/b/rkt", Stage1Fly: "/b/fly.aci"}, "rkt: /b/rkt and /b/fly.aci up to date"},
		{Tools{Rkt: "/b/rkt", Stage1Fly: "/b/fly.aci", Ran: true}, "rkt: /b/rkt and /b/fly.aci built in 2m5s"},
	} {
		if got := tc.t.Summary(125*time.Second + 300*time.Millisecond); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
	}
}
