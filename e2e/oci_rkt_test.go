//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/step"
	"github.com/rktbuild/rktbuild/targets"
)

// TestOCIAndRktFromOneServer: one `mage publish` + `mage serve` of the
// shared images with their OCI layouts answers both clients: real rkt
// 1.30.0 still fetches the base ACI by discovery (signature verified), and
// podman pulls the same image over the OCI API (simple signature
// verified). It reports both pull times.
//
// Run: E2E_WORK=/work/e2e-i14 go test -tags e2e -run TestOCIAndRkt -v ./e2e/
func TestOCIAndRktFromOneServer(t *testing.T) {
	img := sharedImages(t)
	needTools(t, "podman skopeo runc", "podman", "skopeo", "runc")
	needTools(t, "util-linux iproute2", "nsenter", "ip", "bash")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// The OCI layouts beside the shared ACIs (nothing to do when TestOCI
	// made them already).
	ociMage(t, ctx, append(append([]string(nil), img.Env...), "IMAGE_FORMATS=aci,oci"), "images")
	_, desc, err := oci.ReadLayout(oci.LayoutDir(img.Base), "")
	if err != nil {
		t.Fatal(err)
	}
	s := rktSandbox(t)
	name, version := imageName(t, img.Base)
	host, _, _ := strings.Cut(name, "/")
	reg := startRegistry(t, img, host)
	if _, err := os.Stat(filepath.Join(reg.www, "current", "v2", "_catalog")); err != nil {
		t.Fatalf("the published tree has no OCI API: %v", err)
	}

	// rkt: trust the key for the prefix, fetch by discovery.
	if r := reg.rktIn(t, ctx, s, "trust", "--prefix="+host, "--skip-fingerprint-review", img.PubKey); r.Code != 0 {
		t.Fatalf("rkt trust: exit %d\n%s", r.Code, r.Stderr)
	}
	wantID, err := aci.ImageID(img.Base)
	if err != nil {
		t.Fatal(err)
	}
	r := reg.rktIn(t, ctx, s, "fetch", name+":"+version)
	if r.Code != 0 {
		t.Fatalf("rkt fetch %s:%s from the server that also serves OCI: exit %d\n%s", name, version, r.Code, testutil.Tail(r.Stderr, 30))
	}
	if got := imageIDLine(r.Stdout); len(got) < 7+32 || !strings.HasPrefix(wantID, got) {
		t.Errorf("rkt fetch = %q, want (a prefix of) %s", got, wantID)
	}
	rktTook := r.Took

	// podman, in the same namespaces: pull with the signature required.
	work := filepath.Join(t.TempDir(), "podman")
	os.MkdirAll(work, 0o755)
	certDir := filepath.Join(work, "client-certs")
	os.MkdirAll(certDir, 0o755)
	ca, err := os.ReadFile(reg.caCert)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o644)
	policy, _ := ociPolicy(t, work, host, img.PubKey)
	podEnv := ociPodmanEnv(t, work)
	ref := host + "/" + oci.Repository(recipes.BaseName(targets.RecipeSettings(img.Config))) + ":latest"
	pull := step.Command(ctx, "nsenter", "-t", fmt.Sprint(reg.pid), "-n", "-m", "--",
		"podman", "pull", "--cert-dir", certDir, "--signature-policy", policy, "docker://"+ref)
	pull.Env = append(os.Environ(), podEnv...)
	start := time.Now()
	out, err := pull.CombinedOutput()
	podmanTook := time.Since(start)
	if err != nil {
		t.Fatalf("podman pull %s from the server rkt fetched from: %v\n%s", ref, err, testutil.Tail(string(out), 20))
	}
	if !strings.Contains(string(out), desc.Digest.Hex[:12]) && !strings.Contains(string(out), "Writing manifest") {
		t.Logf("podman pull output:\n%s", out)
	}
	t.Logf("FIGURE same server, same base image: rkt fetch %s, podman pull %s (rkt/podman = %.2f)",
		rktTook.Round(time.Millisecond), podmanTook.Round(time.Millisecond), rktTook.Seconds()/podmanTook.Seconds())
}
