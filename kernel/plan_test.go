package kernel

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rktbuild/rktbuild/step"
)

// A dry run (mage plan buildStage1) downloads no extra patch: it says
// which URL it would fetch (issue 12, case 9).
func TestDryRunDownloadsNoPatch(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("--- a/x\n+++ b/x\n"))
	}))
	defer srv.Close()
	var out bytes.Buffer
	work := t.TempDir()
	s := step.NewSession(filepath.Join(work, ".stamps"), 1)
	s.Out, s.DryRun = &out, true
	_, berr := Build(step.WithSession(context.Background(), s), Options{
		Source:         SourceLocal,
		Local:          t.TempDir(),
		ExtraPatchURLs: []string{srv.URL + "/extra.patch"},
		BuildTimestamp: "Tue, 14 Nov 2023 22:13:20 UTC", // the empty source has no date to derive
		WorkDir:        filepath.Join(work, "kernel"),
		CacheDir:       filepath.Join(work, "cache"),
		Client:         srv.Client(),
	})
	t.Logf("dry-run Build: %v", berr)
	if n := hits.Load(); n != 0 {
		t.Errorf("the dry run made %d requests for the extra patch", n)
	}
	if !strings.Contains(out.String(), "would download kernel patch "+srv.URL+"/extra.patch") || !step.Planned(berr) {
		t.Errorf("the dry run did not say what it would download:\n%s", out.String())
	}
}
