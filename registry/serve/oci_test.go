package serve_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/sign"
)

// ociFixture packs and signs an ACI, converts it to an OCI layout with an
// SBOM, publishes it with simple signatures and serves the tree over TLS.
type ociFixture struct {
	base    string // https://127.0.0.1:PORT
	host    string // 127.0.0.1:PORT
	client  *http.Client
	pool    *http.Transport
	aciFile string
	layout  oci.Result
	keyring openpgp.EntityList
	pubOpts publish.Options
}

func newOCIFixture(t *testing.T) *ociFixture {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	write(t, rootfs, "etc/hello.txt", strings.Repeat("hello oci\n", 500))
	if err := os.Symlink("hello.txt", filepath.Join(rootfs, "etc", "link")); err != nil {
		t.Fatal(err)
	}
	m, err := aci.NewManifest("example.com/tools/hello", map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	f := &ociFixture{aciFile: filepath.Join(dir, "aci", "hello-1.0.0-linux-amd64.aci")}
	os.MkdirAll(filepath.Dir(f.aciFile), 0o755)
	if _, err := aci.PackRootfs(context.Background(), m, rootfs, f.aciFile, aci.PackOptions{ForceRoot: true}); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "keys", "k")
	if _, err := sign.GenKey(key, sign.Identity{Name: "oci test", Comment: "simple signing", Email: "oci@localhost"}, 2048, nil); err != nil {
		t.Fatal(err)
	}
	if err := sign.SignFile(f.aciFile, key, nil); err != nil {
		t.Fatal(err)
	}
	signer, err := sign.LoadSigner(key+sign.PrivateKeySuffix, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := sign.ReadKeyFile(key + sign.PublicKeySuffix)
	f.keyring = openpgp.EntityList{pub}
	f.layout, err = oci.WriteLayout(context.Background(), f.aciFile, oci.LayoutDir(f.aciFile), oci.LayoutOptions{SBOM: []byte(`{"spdxVersion":"SPDX-2.3"}`)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.host = ln.Addr().String()
	f.base = "https://" + f.host
	f.pubOpts = publish.Options{Dir: filepath.Join(dir, "www"), Images: []string{f.aciFile}, PubKeys: []string{key + sign.PublicKeySuffix}, BaseURL: f.base, OCISigner: signer}
	if _, err := publish.Publish(context.Background(), f.pubOpts); err != nil {
		t.Fatal(err)
	}
	cr, err := certs.Ensure(filepath.Join(dir, "certs"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certs.Pool(cr.CACert)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, ln, serve.Options{Root: f.pubOpts.Dir /* as mage serve does: current resolved per request */, CertFile: cr.ServerCert, KeyFile: cr.ServerKey})
	}()
	t.Cleanup(func() { cancel(); <-done })
	f.pool = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	f.client = &http.Client{Transport: f.pool}
	return f
}

func TestOCIRegistry(t *testing.T) {
	f := newOCIFixture(t)
	repo := "example.com/tools/hello"
	digest := f.layout.Digest.String()

	// A real registry client pulls the image by tag and by digest and
	// checks every blob against its digest.
	for _, ref := range []string{f.host + "/" + repo + ":1.0.0", f.host + "/" + repo + ":latest", f.host + "/" + repo + "@" + digest} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r, remote.WithTransport(f.pool))
		if err != nil {
			t.Fatalf("pulling %s: %v", ref, err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
		if d, _ := img.Digest(); d.String() != digest {
			t.Errorf("%s has digest %s, the layout %s", ref, d, digest)
		}
	}

	type want struct {
		status      int
		contentType string
		digest      string
		body        string // substring
	}
	m, _ := os.ReadFile(filepath.Join(oci.LayoutDir(f.aciFile), "blobs", "sha256", f.layout.Digest.Hex))
	var man struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	json.Unmarshal(m, &man)
	layer := man.Layers[0].Digest
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               want
	}{
		{"base", "GET", "/v2/", nil, want{200, "application/json", "", "{}"}},
		{"catalog", "GET", "/v2/_catalog", nil, want{200, "application/json", "", `"repositories":["example.com/tools/hello"]`}},
		{"tags", "GET", "/v2/" + repo + "/tags/list", nil, want{200, "application/json", "", `"tags":["1.0.0","latest"]`}},
		{"manifest by tag", "GET", "/v2/" + repo + "/manifests/1.0.0", nil, want{200, "application/vnd.oci.image.manifest.v1+json", digest, `"layers"`}},
		{"manifest HEAD", "HEAD", "/v2/" + repo + "/manifests/latest", nil, want{200, "application/vnd.oci.image.manifest.v1+json", digest, ""}},
		{"manifest by digest", "GET", "/v2/" + repo + "/manifests/" + digest, nil, want{200, "application/vnd.oci.image.manifest.v1+json", digest, ""}},
		{"blob range", "GET", "/v2/" + repo + "/blobs/" + layer, map[string]string{"Range": "bytes=0-1"}, want{206, "application/octet-stream", layer, "\x1f\x8b"}},
		{"blob HEAD", "HEAD", "/v2/" + repo + "/blobs/" + layer, nil, want{200, "application/octet-stream", layer, ""}},
		{"referrers", "GET", "/v2/" + repo + "/referrers/" + digest, nil, want{200, "application/vnd.oci.image.index.v1+json", "", `"artifactType":"application/spdx+json"`}},
		{"unknown tag", "GET", "/v2/" + repo + "/manifests/9.9.9", nil, want{404, "application/json", "", "MANIFEST_UNKNOWN"}},
		{"unknown repo", "GET", "/v2/example.com/nope/manifests/1.0.0", nil, want{404, "application/json", "", "NAME_UNKNOWN"}},
		{"unknown blob", "GET", "/v2/" + repo + "/blobs/sha256:" + strings.Repeat("0", 64), nil, want{404, "application/json", "", "BLOB_UNKNOWN"}},
		{"bad digest", "GET", "/v2/" + repo + "/blobs/sha256:zz", nil, want{400, "application/json", "", "DIGEST_INVALID"}},
		{"traversal", "GET", "/v2/../../etc/manifests/x", nil, want{404, "application/json", "", ""}},
		{"push refused", "PUT", "/v2/" + repo + "/manifests/2.0.0", nil, want{405, "", "", ""}},
		{"signature", "GET", "/sigstore/" + repo + "@sha256=" + f.layout.Digest.Hex + "/signature-1", nil, want{200, "application/octet-stream", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.base+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want.status, body)
			}
			if tt.want.contentType != "" && resp.Header.Get("Content-Type") != tt.want.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.want.contentType)
			}
			if tt.want.digest != "" && resp.Header.Get("Docker-Content-Digest") != tt.want.digest {
				t.Errorf("Docker-Content-Digest %q, want %q", resp.Header.Get("Docker-Content-Digest"), tt.want.digest)
			}
			if !strings.Contains(string(body), tt.want.body) {
				t.Errorf("body %q does not contain %q", body, tt.want.body)
			}
			if tt.method == "HEAD" && resp.ContentLength <= 0 {
				t.Errorf("HEAD without a Content-Length")
			}
		})
	}

	// The simple signatures (one per tag) verify with our key and bind the
	// digest to HOST:PORT/REPO:TAG.
	for i, tag := range []string{"1.0.0", "latest"} {
		resp, err := f.client.Get(fmt.Sprintf("%s/sigstore/%s@sha256=%s/signature-%d", f.base, repo, f.layout.Digest.Hex, i+1))
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p, _, err := sign.VerifySimple(f.keyring, sig)
		if err != nil {
			t.Fatalf("signature-%d: %v", i+1, err)
		}
		if p.Critical.Identity.DockerReference != f.host+"/"+repo+":"+tag || p.Critical.Image.DockerManifestDigest != digest {
			t.Errorf("signature-%d binds %+v", i+1, p.Critical)
		}
	}

	// Publishing the same images again changes nothing (same signatures).
	res, err := publish.Publish(context.Background(), f.pubOpts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed {
		t.Errorf("republishing unchanged images swapped in a new tree")
	}
	if len(res.OCI) != 2 {
		t.Errorf("OCI entries %+v, want the tag and latest", res.OCI)
	}
}

func TestPublishRefusesStaleLayout(t *testing.T) {
	f := newOCIFixture(t)
	// Rebuild the ACI with other content: the layout beside it is stale.
	dir := t.TempDir()
	write(t, dir, "rootfs/etc/other", "changed")
	m, _ := aci.NewManifest("example.com/tools/hello", map[string]string{"version": "1.0.0", "os": "linux", "arch": "amd64"})
	if _, err := aci.PackRootfs(context.Background(), m, filepath.Join(dir, "rootfs"), f.aciFile, aci.PackOptions{ForceRoot: true}); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSuffix(f.pubOpts.PubKeys[0], sign.PublicKeySuffix)
	if err := sign.SignFile(f.aciFile, key, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Readlink(filepath.Join(f.pubOpts.Dir, "current"))
	_, err := publish.Publish(context.Background(), f.pubOpts)
	if err == nil || !strings.Contains(err.Error(), "stale") || !strings.Contains(err.Error(), "oci:export") {
		t.Fatalf("err = %v, want a stale-layout error saying how to fix it", err)
	}
	if after, _ := os.Readlink(filepath.Join(f.pubOpts.Dir, "current")); after != before {
		t.Errorf("a refused publish swapped the tree")
	}
}
