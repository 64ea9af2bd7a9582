package recipes

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/internal/testutil"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

func names(rs []Recipe) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Label())
	}
	return out
}

func TestResolve(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: nil, want: []string{"00-base", "10-go-builder"}},
		{in: []string{"go-builder"}, want: []string{"00-base", "10-go-builder"}},
		{in: []string{"10-go-builder", "base"}, want: []string{"00-base", "10-go-builder"}},
		{in: []string{"base"}, want: []string{"00-base"}},
		{in: []string{"nope"}, wantErr: `unknown image "nope": known images are base, go-builder`},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tt.in, names(got), err, tt.want)
		}
	}
}

func TestResolveCycle(t *testing.T) {
	mu.Lock()
	saved := recipes
	recipes = map[string]Recipe{
		"a": {Order: 1, Name: "a", Deps: []string{"b"}},
		"b": {Order: 2, Name: "b", Deps: []string{"a"}},
		"c": {Order: 3, Name: "c", Deps: []string{"missing"}},
	}
	mu.Unlock()
	defer func() { mu.Lock(); recipes = saved; mu.Unlock() }()
	if _, err := Resolve([]string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle: a -> b -> a") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := Resolve([]string{"c"}); err == nil || !strings.Contains(err.Error(), `image c depends on unknown image "missing"`) {
		t.Errorf("missing dep: %v", err)
	}
}

// TestResolveDependencyOrder is the regression test for recipes built in
// Order instead of dependency order: a recipe whose dependency sorts after
// it must still come second.
func TestResolveDependencyOrder(t *testing.T) {
	mu.Lock()
	saved := recipes
	recipes = map[string]Recipe{
		"app":     {Order: 5, Name: "app", Deps: []string{"runtime"}},
		"runtime": {Order: 50, Name: "runtime", Deps: []string{"base"}},
		"base":    {Order: 0, Name: "base"},
		"tool":    {Order: 7, Name: "tool", Deps: []string{"base"}},
	}
	mu.Unlock()
	defer func() { mu.Lock(); recipes = saved; mu.Unlock() }()
	tests := []struct {
		in   []string
		want []string
	}{
		{in: nil, want: []string{"00-base", "50-runtime", "05-app", "07-tool"}},
		{in: []string{"app"}, want: []string{"00-base", "50-runtime", "05-app"}},
		{in: []string{"tool", "app"}, want: []string{"00-base", "50-runtime", "05-app", "07-tool"}},
		{in: []string{"runtime"}, want: []string{"00-base", "50-runtime"}},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.in)
		if err != nil || !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tt.in, names(got), err, tt.want)
		}
	}
}

func TestParseRepoList(t *testing.T) {
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "local"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    []RepoEntry
		wantErr string
	}{
		{name: "comments and blanks", in: "# header\n\ngolang.org/x/tools/cmd/stringer@v0.52.0\n  github.com/rakyll/hey   # trailing comment\n\t\n",
			want: []RepoEntry{{Line: 3, Target: "golang.org/x/tools/cmd/stringer@v0.52.0"}, {Line: 4, Target: "github.com/rakyll/hey"}}},
		{name: "git url and local dir", in: "https://example.com/x/y.git\n./local\n",
			want: []RepoEntry{{Line: 1, Target: "https://example.com/x/y.git"}, {Line: 2, Target: "./local", Local: filepath.Join(base, "local")}}},
		{name: "two per line", in: "a.example/x b.example/y\n", wantErr: "list:1: \"a.example/x b.example/y\": one target per line"},
		{name: "duplicate", in: "a.example/x\n# c\na.example/x\n", wantErr: "list:3: a.example/x is already listed on line 1"},
		{name: "missing local dir", in: "./nope\n", wantErr: "list:1: local source " + filepath.Join(base, "nope") + " is not a directory"},
		{name: "option-like", in: "-x\n", wantErr: "not an import path"},
		{name: "empty", in: "# nothing\n\n", wantErr: "list lists no targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRepoList(strings.NewReader(tt.in), "list", base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRepoList = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := ReadRepoList(filepath.Join(base, "missing.txt")); err == nil || !strings.Contains(err.Error(), "REPO_LIST") {
		t.Errorf("ReadRepoList of a missing file: %v", err)
	}
}

func TestBinDir(t *testing.T) {
	tests := []struct {
		e    RepoEntry
		want string
	}{
		{RepoEntry{Target: "golang.org/x/tools/cmd/stringer@v0.52.0"}, "bins/golang.org/x/tools/cmd/stringer@v0.52.0"},
		{RepoEntry{Target: "https://example.com/x/y.git"}, "bins/example.com/x/y"},
		{RepoEntry{Target: "git@example.com:x/y.git"}, "bins/git@example.com_x/y"},
		{RepoEntry{Target: "./local/hello", Local: "/src/local/hello"}, "bins/hello"},
		{RepoEntry{Target: "example.com/../../etc"}, "bins/example.com/etc"},
	}
	for _, tt := range tests {
		if got := BinDir("bins", tt.e); got != tt.want {
			t.Errorf("BinDir(%q) = %q, want %q", tt.e.Target, got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []RepoResult{
		{Entry: RepoEntry{Target: "a.example/ok"}, Artifacts: []string{"ok"}},
		{Entry: RepoEntry{Target: "b.example/bad", Line: 2}, Err: errors.New("building b.example/bad (line 2): exit status 1")},
	})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 repo builds failed: b.example/bad") {
		t.Errorf("WriteTable error = %v", err)
	}
	out := b.String()
	for _, want := range []string{"ENTRY", "a.example/ok", "ok", "b.example/bad", "FAILED"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if err := WriteTable(&b, []RepoResult{{Entry: RepoEntry{Target: "x"}}}); err != nil {
		t.Errorf("all ok: %v", err)
	}
}

func TestToolchainVersion(t *testing.T) {
	for in, want := range map[string]string{"1.26.8": "v0.0.1-go1.26.8.linux-amd64", "1.27rc1": "v0.0.1-go1.27rc1.linux-amd64", "1.21": "v0.0.1-go1.21.linux-amd64"} {
		if got, err := ToolchainVersion(in, "amd64"); err != nil || got != want {
			t.Errorf("ToolchainVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "go1.26.8", "1.26.8; rm", "latest"} {
		if _, err := ToolchainVersion(bad, "amd64"); err == nil || !strings.Contains(err.Error(), "GO_VERSION") {
			t.Errorf("ToolchainVersion(%q) error = %v", bad, err)
		}
	}
}

func TestCheckVerification(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{env: map[string]string{}},
		{env: map[string]string{"GOPRIVATE": "example.com/*", "GONOSUMDB": "corp.example"}},
		{env: map[string]string{"GOSUMDB": "off"}, wantErr: "GOSUMDB=off"},
		{env: map[string]string{"GONOSUMDB": "golang.org"}, wantErr: "GONOSUMDB"},
		{env: map[string]string{"GOPRIVATE": "example.com,golang.org/*"}, wantErr: "GOPRIVATE"},
		{env: map[string]string{"GOINSECURE": "*.org"}, wantErr: "GOINSECURE"},
		{env: map[string]string{"GOFLAGS": "-insecure"}, wantErr: "-insecure"},
	}
	for _, tt := range tests {
		err := checkVerification(tt.env)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkVerification(%v) = %v, want %q", tt.env, err, tt.wantErr)
		}
	}
}

func TestOSVersionAndArch(t *testing.T) {
	root := t.TempDir()
	if got := OSVersion(root, "bookworm"); got != "bookworm" {
		t.Errorf("no os-release: %q", got)
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("NAME=\"Ubuntu\"\nVERSION_ID=\"16.04\"\n"), 0o644)
	if got := OSVersion(root, "xenial"); got != "16.04" {
		t.Errorf("OSVersion = %q", got)
	}
	if AppcArch("arm64") != "aarch64" || AppcArch("amd64") != "amd64" {
		t.Error("AppcArch")
	}
}

// testSettings are recipe settings under tmp: bookworm on amd64, a fixed
// SOURCE_DATE_EPOCH, images named aci.example.test/...; goVersion may be "".
func testSettings(tmp, goVersion string) *Settings {
	return &Settings{
		Registry: "aci.example.test", ACIDir: filepath.Join(tmp, "aci"), BuildDir: filepath.Join(tmp, "build"),
		CacheDir: filepath.Join(tmp, "cache"), SigningKey: filepath.Join(tmp, "keys", "k"), GoVersion: goVersion,
		Epoch: 1700000000, HasEpoch: true, Formats: []string{"aci"}, Jobs: 1,
		Rootfs: rootfs.Options{Suite: "bookworm", Arch: "amd64", Dir: filepath.Join(tmp, "build", "rootfs", "bookworm-amd64"),
			CacheDir: filepath.Join(tmp, "cache", "debs", "bookworm-amd64")},
	}
}

// TestBaseRecipe builds the base image from a tiny rootfs (no debootstrap,
// no nspawn: the base recipe only copies files and sets the manifest),
// checks its manifest against the golden file, its signature, and that a
// second build is a no-op.
func TestBaseRecipe(t *testing.T) {
	tmp := t.TempDir()
	c := testSettings(tmp, "")
	ctx := step.WithStampDir(context.Background(), filepath.Join(tmp, "stamps"))
	if _, err := sign.GenKey(c.SigningKey, sign.Identity{Name: "test", Comment: "images test", Email: "test@example.test"}, 2048, nil); err != nil {
		t.Fatal(err)
	}
	root := c.Rootfs.Dir
	for f, data := range map[string]string{
		"etc/os-release":                   "VERSION_ID=\"12\"\n",
		"var/lib/apt/lists/x_InRelease":    "lists",
		"var/cache/apt/archives/a_1.0.deb": "deb",
		"bin/sh":                           "#!",
	} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := &Env{Settings: c, Signer: sign.NewSigner(sign.SignerOptions{Base: c.SigningKey}), RootfsDir: root}
	// The policy `mage run` applies: the trust store, else this machine's key.
	own := sign.Verifier{Trust: sign.TrustStore{Dir: filepath.Join(tmp, "trust")}, Keys: []string{c.SigningKey + sign.PublicKeySuffix}}
	verify := func(file string) (string, error) {
		m, err := aci.ReadManifest(file)
		if err != nil {
			return "", err
		}
		return own.VerifyFile(context.Background(), m.Name.String(), file)
	}
	list, _ := Resolve([]string{"base"})
	sts, err := Build(ctx, e, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Result != "built" {
		t.Fatalf("statuses = %+v", sts)
	}
	file := BaseFile(c)
	if want := filepath.Join(tmp, "aci", "debian-bookworm-linux-amd64.aci"); file != want {
		t.Errorf("BaseFile = %s, want %s", file, want)
	}
	m, err := aci.ReadManifest(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := aci.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("..", "testdata", "recipes", "base.manifest.json")
	testutil.Golden(t, golden, got)
	if signer, err := verify(file); err != nil || !strings.Contains(signer, "test@example.test") {
		t.Errorf("Verify = %q, %v", signer, err)
	}
	if err := aci.Validate(file); err != nil {
		t.Error(err)
	}
	r, err := rendered(t, file)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"entrypoint.sh": true, "var/lib/apt/lists/x_InRelease": false, "var/cache/apt/archives/a_1.0.deb": false, "bin/sh": true} {
		if _, err := os.Stat(filepath.Join(r, f)); (err == nil) != want {
			t.Errorf("%s in image = %v, want %v", f, err == nil, want)
		}
	}
	sts, err = Build(ctx, e, list)
	if err != nil || sts[0].Result != "up to date" {
		t.Errorf("second build: %+v, %v", sts, err)
	}
	// Another key at the same path re-signs (the key is an input by
	// content, not by path).
	for _, f := range sign.KeyFiles(c.SigningKey) {
		os.Remove(f)
	}
	if _, err := sign.GenKey(c.SigningKey, sign.Identity{Name: "other", Comment: "images test", Email: "other@example.test"}, 2048, nil); err != nil {
		t.Fatal(err)
	}
	sts, err = Build(ctx, e, list)
	if err != nil || sts[0].Result != "built" || !strings.Contains(sts[0].Reason, ".key.asc") && !strings.Contains(sts[0].Reason, ".pub.asc") {
		t.Errorf("build after a key change: %+v, %v; want built because the key changed", sts, err)
	}
	if signer, err := verify(file); err != nil || !strings.Contains(signer, "other@example.test") {
		t.Errorf("after a key change Verify = %q, %v; want the new key", signer, err)
	}
	// A tampered image is refused.
	os.WriteFile(file, append(must(os.ReadFile(file)), 0), 0o644)
	if _, err := verify(file); err == nil {
		t.Error("Verify accepted a changed image")
	}
	if _, err := FindImage(c, "base"); err != nil {
		t.Error(err)
	}
	if _, err := FindImage(c, "aci.example.test/debian-bookworm-base:12"); err != nil {
		t.Error(err)
	}
	if _, err := FindImage(c, "aci.example.test/debian-bookworm-base:13"); err == nil {
		t.Error("FindImage matched the wrong version")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func rendered(t *testing.T, file string) (string, error) {
	t.Helper()
	d := filepath.Join(t.TempDir(), "x")
	if err := aci.Extract(context.Background(), file, d); err != nil {
		return "", err
	}
	return filepath.Join(d, "rootfs"), nil
}

// TestGoBuilderManifest checks the Go builder's layout and manifest (built
// from the base image, as the recipe does, minus toolchain and packages)
// against the golden file.
func TestGoBuilderManifest(t *testing.T) {
	tmp := t.TempDir()
	c := testSettings(tmp, "1.26.8")
	ctx := step.WithStampDir(context.Background(), filepath.Join(tmp, "stamps"))
	if _, err := sign.GenKey(c.SigningKey, sign.Identity{Name: "test", Comment: "images test", Email: "test@example.test"}, 2048, nil); err != nil {
		t.Fatal(err)
	}
	root := c.Rootfs.Dir
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("VERSION_ID=\"12\"\n"), 0o644)
	e := &Env{Settings: c, Signer: sign.NewSigner(sign.SignerOptions{Base: c.SigningKey}), RootfsDir: root}
	list, _ := Resolve([]string{"base"})
	if _, err := Build(ctx, e, list); err != nil {
		t.Fatal(err)
	}
	e.work = filepath.Join(tmp, "work")
	b, err := e.FromImage(ctx, "base", GoBuilderName(c))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	configureGoBuilder(b, c, "h1:test")
	for _, d := range []string{"go/bin", "go/src", "go/pkg", "build"} {
		if fi, err := os.Stat(filepath.Join(b.Rootfs(), d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s missing", d)
		}
	}
	if ep, err := os.ReadFile(filepath.Join(b.Rootfs(), "entrypoint.sh")); err != nil || !bytes.Contains(ep, []byte("go install")) {
		t.Error("/entrypoint.sh is not the Go build entrypoint")
	}
	out := filepath.Join(tmp, "gb.aci")
	if _, err := b.Write(ctx, out, aci.PackOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := aci.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := aci.MarshalManifest(m)
	golden := filepath.Join("..", "testdata", "recipes", "go-builder.manifest.json")
	testutil.Golden(t, golden, got)
	if GoBuilderFile(c) != filepath.Join(tmp, "aci", "go-builder-go1.26.8-linux-amd64.aci") {
		t.Errorf("GoBuilderFile = %s", GoBuilderFile(c))
	}
}
