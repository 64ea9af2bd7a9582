//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/targets"
)

// ociRun runs a command with env added and returns its combined output,
// failing the test when it fails.
func ociRun(t *testing.T, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	out, err := ociTry(ctx, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, testutil.Tail(out, 40))
	}
	return out
}

func ociTry(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

func ociMage(t *testing.T, ctx context.Context, env []string, args ...string) (string, time.Duration) {
	t.Helper()
	out, took, err := runMage(ctx, env, args...)
	if err != nil {
		t.Fatalf("mage %s: %v\n%s", strings.Join(args, " "), err, testutil.Tail(out, 40))
	}
	return out, took
}

func ociFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func ociDirSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestOCI: the shared bookworm images, converted with IMAGE_FORMATS=aci,oci
// (the ACIs are not rebuilt), published and served by `mage serve`, are
// pulled and run by podman, copied and signature-checked by skopeo, and
// unpacked by umoci into the same tree as aci:extract.
//
// Run: E2E_WORK=/work/e2e-i14 go test -tags e2e -run TestOCI -v ./e2e/
func TestOCI(t *testing.T) {
	needTools(t, "podman skopeo umoci runc", "podman", "skopeo", "umoci", "runc")
	s := sharedImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	work := filepath.Join(sharedRoot, "oci")
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	port := ociFreePort(t)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	env := append(append([]string(nil), s.Env...),
		"IMAGE_FORMATS=aci,oci",
		"PUBLISH_DIR="+filepath.Join(work, "www"),
		"PUBLISH_BASE_URL=https://"+host,
		"SERVE_ADDR="+host,
		"CERT_DIR="+filepath.Join(work, "certs"),
		"CERT_HOSTS=127.0.0.1",
	)
	idBefore, err := aci.ImageID(s.Base)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Turning OCI on converts the built images without rebuilding them.
	out, took := ociMage(t, ctx, env, "images")
	t.Logf("mage images with IMAGE_FORMATS=aci,oci (ACIs up to date, 2 OCI layouts written) took %s", took.Round(time.Millisecond))
	if idAfter, _ := aci.ImageID(s.Base); idAfter != idBefore {
		t.Errorf("turning OCI on rebuilt the base ACI (%s -> %s)", idBefore, idAfter)
	}
	for _, f := range []string{s.Base, s.Builder} {
		if _, err := os.Stat(filepath.Join(oci.LayoutDir(f), "oci-layout")); err != nil {
			t.Fatalf("no OCI layout beside %s: %v\n%s", f, err, testutil.Tail(out, 30))
		}
		if _, err := os.Stat(recipes.SBOMFile(f)); err != nil {
			t.Fatalf("no SBOM beside %s: %v", f, err)
		}
	}
	out, _ = ociMage(t, ctx, env, "images")
	if !strings.Contains(out, "up to date") || strings.Contains(out, "wrote ") {
		t.Errorf("a second `mage images` did work:\n%s", testutil.Tail(out, 20))
	}
	ociCheckSBOMs(t, s)

	// Export time and size against the ACI (base image).
	aciFI, _ := os.Stat(s.Base)
	for _, format := range []string{"layout", "oci-archive", "docker-archive"} {
		dst := filepath.Join(work, "export-"+format)
		if format != "layout" {
			dst += ".tar"
		}
		_, took := ociMage(t, ctx, env, "oci:export", s.Base, dst, "-format="+format)
		size := ociDirSize(t, dst)
		t.Logf("FIGURE export %s: %s (mage run included), %d bytes = %.2f x the ACI's %d", format, took.Round(time.Millisecond), size, float64(size)/float64(aciFI.Size()), aciFI.Size())
	}
	ociMage(t, ctx, env, "oci:validate", oci.LayoutDir(s.Base))

	// 2. Publish and serve.
	ociMage(t, ctx, env, "certs")
	out, _ = ociMage(t, ctx, env, "publish")
	if !strings.Contains(out, "publish: OCI") {
		t.Errorf("publish did not report OCI repositories:\n%s", testutil.Tail(out, 20))
	}
	stop := ociServe(t, env, host, filepath.Join(work, "certs", "ca.crt"))
	defer stop()
	certDir := filepath.Join(work, "client-certs")
	os.MkdirAll(certDir, 0o755)
	ca, _ := os.ReadFile(filepath.Join(work, "certs", "ca.crt"))
	os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o644)

	baseRepo := host + "/" + oci.Repository(recipes.BaseName(targets.RecipeSettings(s.Config)))
	builderRepo := host + "/" + oci.Repository(recipes.GoBuilderName(targets.RecipeSettings(s.Config)))
	_, baseDesc, err := oci.ReadLayout(oci.LayoutDir(s.Base), "")
	if err != nil {
		t.Fatal(err)
	}

	// 3. skopeo inspect and copy with TLS verified against our CA.
	insp := ociRun(t, ctx, nil, "skopeo", "inspect", "--cert-dir", certDir, "docker://"+baseRepo+":latest")
	var info struct {
		Digest       string
		Architecture string
		Os           string
		Labels       map[string]string
	}
	if err := json.Unmarshal([]byte(insp), &info); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, insp)
	}
	if info.Digest != baseDesc.Digest.String() || info.Architecture != "amd64" || info.Os != "linux" || info.Labels["version"] == "" {
		t.Errorf("skopeo inspect: %+v, want digest %s, linux/amd64 and the version label", info, baseDesc.Digest)
	}
	copied := filepath.Join(work, "skopeo-copy")
	ociRun(t, ctx, nil, "skopeo", "--insecure-policy", "copy", "--src-cert-dir", certDir, "docker://"+baseRepo+":latest", "oci:"+copied+":latest")
	if _, d, err := oci.ReadLayout(copied, "latest"); err != nil || d.Digest != baseDesc.Digest {
		t.Errorf("skopeo's copy: %v, digest %s, want %s", err, d.Digest, baseDesc.Digest)
	}

	// 4. Signatures: a policy requiring our key accepts ours and rejects a
	// tampered one.
	policy, regd := ociPolicy(t, work, host, s.PubKey)
	sigArgs := []string{"--policy", policy, "--registries.d", regd, "copy", "--remove-signatures", "--src-cert-dir", certDir, "docker://" + baseRepo + ":latest", "oci:" + filepath.Join(work, "signed") + ":latest"}
	// (--remove-signatures: an oci: destination cannot store them; the
	// policy is still enforced on the source.)
	ociRun(t, ctx, nil, "skopeo", sigArgs...)
	sigFile := filepath.Join(work, "www", "current", "sigstore", strings.TrimPrefix(baseRepo, host+"/")+"@sha256="+baseDesc.Digest.Hex, "signature-2")
	good, err := os.ReadFile(sigFile)
	if err != nil {
		t.Fatalf("the latest tag's signature: %v", err)
	}
	bad := append([]byte(nil), good...)
	if i := bytes.Index(bad, []byte("docker-reference")); i > 0 {
		bad[i+20] ^= 1 // change one byte of the signed payload
	}
	os.WriteFile(sigFile, bad, 0o644)
	out, err = ociTry(ctx, nil, "skopeo", append(sigArgs[:len(sigArgs)-1], "oci:"+filepath.Join(work, "tampered")+":latest")...)
	os.WriteFile(sigFile, good, 0o644)
	if err == nil {
		t.Errorf("skopeo accepted a tampered signature:\n%s", out)
	} else {
		t.Logf("tampered signature rejected as expected: %s", testutil.Tail(out, 2))
	}

	// 5. podman pulls (signature checked) and runs both images.
	podEnv := ociPodmanEnv(t, work)
	pullArgs := []string{"pull", "--cert-dir", certDir, "--signature-policy", policy}
	start := time.Now()
	ociRun(t, ctx, podEnv, "podman", append(pullArgs, "docker://"+baseRepo+":latest")...)
	t.Logf("FIGURE podman pull of the base image from mage serve: %s", time.Since(start).Round(time.Millisecond))
	out = ociRun(t, ctx, podEnv, "podman", "run", "--rm", "--network=none", baseRepo+":latest", "sh", "-c", "echo hello from debian $(cat /etc/debian_version) as $(id -u)")
	if !strings.Contains(out, "hello from debian 12") || !strings.Contains(out, "as 0") {
		t.Errorf("podman run of the base image:\n%s", out)
	}
	ociRun(t, ctx, podEnv, "podman", append(pullArgs, "docker://"+builderRepo+":latest")...)
	src, bin := filepath.Join(work, "src"), filepath.Join(work, "bin")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/hello\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"built by podman\") }\n"), 0o644)
	// The image's entrypoint builds the source mounted at /build into
	// the "target" mount point /go/bin, as `mage buildRepos` does with rkt.
	ociRun(t, ctx, podEnv, "podman", "run", "--rm", "--network=none", "-e", "GOTOOLCHAIN=local",
		"-v", src+":/build", "-v", bin+":/go/bin", builderRepo+":latest")
	if out := ociRun(t, ctx, nil, filepath.Join(bin, "hello")); strings.TrimSpace(out) != "built by podman" {
		t.Errorf("the program the Go builder built under podman printed %q", out)
	}

	// podman loads the oci-archive oci:export wrote, under its OCI name.
	ociRun(t, ctx, podEnv, "podman", "load", "-i", filepath.Join(work, "export-oci-archive.tar"))
	tag := baseDesc.Annotations[oci.AnnotationRefName]
	ociRun(t, ctx, podEnv, "podman", "image", "exists", strings.TrimPrefix(baseRepo, host+"/")+":"+tag)

	// 6. umoci unpack of the layout gives the tree aci:extract gives.
	bundle := filepath.Join(work, "bundle")
	ociRun(t, ctx, nil, "umoci", "unpack", "--image", oci.LayoutDir(s.Base)+":"+baseDesc.Annotations[oci.AnnotationRefName], bundle)
	extracted := filepath.Join(work, "extracted")
	ociMage(t, ctx, env, "aci:extract", s.Base, extracted)
	ociCompareTrees(t, filepath.Join(extracted, "rootfs"), filepath.Join(bundle, "rootfs"))
}

// ociCheckSBOMs checks the SBOMs of the shared images and logs the package
// count of the base image.
func ociCheckSBOMs(t *testing.T, s *SharedImages) {
	t.Helper()
	type pkg struct {
		Name            string `json:"name"`
		Version         string `json:"versionInfo"`
		LicenseDeclared string `json:"licenseDeclared"`
		Comment         string `json:"comment"`
	}
	read := func(f string) []pkg {
		b, err := os.ReadFile(recipes.SBOMFile(f))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []pkg  `json:"packages"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.SPDXVersion != "SPDX-2.3" {
			t.Fatalf("%s: %v (version %q)", recipes.SBOMFile(f), err, doc.SPDXVersion)
		}
		return doc.Packages
	}
	base := read(s.Base)
	byName := map[string]pkg{}
	licensed := 0
	for _, p := range base {
		byName[p.Name] = p
		if p.LicenseDeclared != "" && p.LicenseDeclared != "NOASSERTION" {
			licensed++
		}
	}
	t.Logf("FIGURE base image SBOM: %d packages (image included), %d with a declared license", len(base), licensed)
	// dpkg-query inside the ACI is the reference count.
	if len(base) < 80 || byName["libc6"].Version == "" || byName["dpkg"].LicenseDeclared == "" {
		t.Errorf("base SBOM: %d packages, libc6 %+v, dpkg %+v", len(base), byName["libc6"], byName["dpkg"])
	}
	builder := read(s.Builder)
	var gover, gobins int
	for _, p := range builder {
		if p.Name == "go" && p.Version == s.Config.GoVersion {
			gover++
		}
		if strings.HasPrefix(p.Comment, "Go binary /usr/local/go/") {
			gobins++
		}
	}
	if gover != 1 || gobins < 2 {
		t.Errorf("Go builder SBOM: toolchain %s listed %d times, %d Go binaries; want 1 and at least go and gofmt", s.Config.GoVersion, gover, gobins)
	}
}

// ociServe runs `mage serve` until the test ends and waits for it.
func ociServe(t *testing.T, env []string, host, caFile string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "go", "run", "mage.go", "serve")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	// go run starts mage as a child: signal the whole process group, or
	// the server outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := client.Get("https://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && resp.Header.Get("Docker-Distribution-API-Version") == "registry/2.0" {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			cmd.Wait()
			t.Fatalf("mage serve did not answer /v2/ on %s: %v\n%s", host, err, log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	return func() {
		cancel()
		cmd.Wait()
		t.Logf("mage serve log (last lines):\n%s", testutil.Tail(log.String(), 15))
	}
}

// ociPolicy writes a policy.json that accepts images from host only when
// signed by pubKey, and a registries.d that points at the lookaside.
func ociPolicy(t *testing.T, work, host, pubKey string) (string, string) {
	t.Helper()
	policy := map[string]any{
		"default": []any{map[string]string{"type": "reject"}},
		"transports": map[string]any{
			"docker": map[string]any{host: []any{map[string]string{"type": "signedBy", "keyType": "GPGKeys", "keyPath": pubKey}}},
			"oci":    map[string]any{"": []any{map[string]string{"type": "insecureAcceptAnything"}}},
		},
	}
	b, _ := json.MarshalIndent(policy, "", "  ")
	p := filepath.Join(work, "policy.json")
	os.WriteFile(p, b, 0o644)
	regd := filepath.Join(work, "registries.d")
	os.MkdirAll(regd, 0o755)
	os.WriteFile(filepath.Join(regd, "rktbuild.yaml"), []byte("docker:\n  "+host+":\n    lookaside: https://"+host+"/sigstore\n"), 0o644)
	os.WriteFile(filepath.Join(work, "registries.conf"), []byte("unqualified-search-registries = []\n"), 0o644)
	return p, regd
}

// ociPodmanEnv is a private podman configuration: vfs storage in the work
// directory, no default ulimits (crun's setrlimit is refused here), the
// registries.d lookaside.
func ociPodmanEnv(t *testing.T, work string) []string {
	t.Helper()
	st := filepath.Join(work, "storage.conf")
	os.WriteFile(st, []byte(fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(work, "podman", "graph"), filepath.Join(work, "podman", "run"))), 0o644)
	cc := filepath.Join(work, "containers.conf")
	// runc: crun refuses this machine's hybrid cgroup layout ("cgroups in
	// hybrid mode not supported").
	os.WriteFile(cc, []byte("[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n"), 0o644)
	// podman has no option for registries.d; containers/image prefers
	// $HOME/.config/containers/registries.d when it exists.
	home := filepath.Join(work, "home")
	regd := filepath.Join(home, ".config", "containers", "registries.d")
	os.MkdirAll(regd, 0o755)
	b, err := os.ReadFile(filepath.Join(work, "registries.d", "rktbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(regd, "rktbuild.yaml"), b, 0o644)
	return []string{"HOME=" + home, "CONTAINERS_STORAGE_CONF=" + st, "CONTAINERS_CONF=" + cc, "CONTAINERS_REGISTRIES_CONF=" + filepath.Join(work, "registries.conf")}
}

// ociCompareTrees compares two extracted root file systems entry by
// entry: type, mode, owner, size, content, link target, capability xattr,
// mtime and hardlink groups. The root directory itself is not compared (a
// layer has no entry for it).
func ociCompareTrees(t *testing.T, want, got string) {
	t.Helper()
	a, ai := describeTree(t, want)
	b, bi := describeTree(t, got)
	delete(a, ".")
	delete(b, ".")
	var diffs []string
	for p, ea := range a {
		eb, ok := b[p]
		switch {
		case !ok:
			diffs = append(diffs, "missing from the umoci tree: "+p)
		case ea != eb:
			diffs = append(diffs, fmt.Sprintf("%s: aci:extract %+v, umoci %+v", p, ea, eb))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "only in the umoci tree: "+p)
		}
	}
	groups := func(inos map[string]uint64) []string {
		g := map[uint64][]string{}
		for p, i := range inos {
			g[i] = append(g[i], p)
		}
		var out []string
		for _, ps := range g {
			sort.Strings(ps)
			out = append(out, strings.Join(ps, "="))
		}
		sort.Strings(out)
		return out
	}
	if ga, gb := groups(ai), groups(bi); strings.Join(ga, " ") != strings.Join(gb, " ") {
		diffs = append(diffs, fmt.Sprintf("hardlink groups differ: %v vs %v", ga, gb))
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		if len(diffs) > 30 {
			diffs = append(diffs[:30], fmt.Sprintf("... and %d more", len(diffs)-30))
		}
		t.Errorf("umoci unpack differs from aci:extract (%d entries compared):\n%s", len(a), strings.Join(diffs, "\n"))
	} else {
		t.Logf("umoci unpack and aci:extract agree on %d entries, %d hardlink groups", len(a), len(groups(ai)))
	}
}
