package targets

// Config → Options mapping: the one place where the configuration becomes
// the typed options the domain packages take (they never import config).
// Each area keeps its functions in its own block.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rktbuild/rktbuild/bench"
	"github.com/rktbuild/rktbuild/config"
	"github.com/rktbuild/rktbuild/format/aci"
	"github.com/rktbuild/rktbuild/format/oci"
	"github.com/rktbuild/rktbuild/kernel"
	"github.com/rktbuild/rktbuild/nspawn/static"
	"github.com/rktbuild/rktbuild/recipes"
	"github.com/rktbuild/rktbuild/registry/certs"
	"github.com/rktbuild/rktbuild/registry/fetch"
	"github.com/rktbuild/rktbuild/registry/publish"
	"github.com/rktbuild/rktbuild/registry/serve"
	"github.com/rktbuild/rktbuild/rkt"
	"github.com/rktbuild/rktbuild/rootfs"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/stage1"
	"github.com/rktbuild/rktbuild/stage1/upstream"
	"github.com/rktbuild/rktbuild/step"
)

// --- engine: kernel, stage1, stage1/upstream, rkt, nspawn ---

// kernelOptions maps the configuration to kernel.Options.
func kernelOptions(c *config.Config) (kernel.Options, error) {
	o := kernel.Options{
		Version:         c.KernelVersion,
		Source:          c.KernelSource,
		BaseURL:         c.KernelURL,
		DistroPackage:   c.KernelDistroPackage,
		Local:           c.KernelLocal,
		Suffix:          c.KernelVersionSuffix,
		ExtraPatchFiles: c.ExtraKernelPatchFiles,
		ExtraPatchURLs:  c.ExtraKernelPatchURLs,
		WorkDir:         filepath.Join(c.BuildDir, "kernel"),
		CacheDir:        filepath.Join(c.CacheDir, "kernel"),
		Jobs:            c.Jobs,
	}
	ccRemote, store, err := kernel.RemoteSplit(c.RemoteCache)
	if err != nil {
		return o, err
	}
	if _, err := kernel.ParseCCacheMode(c.CCache); err != nil {
		return o, err
	}
	o.CCache = kernel.CCache{Mode: c.CCache, Remote: ccRemote}
	o.StepStore = store
	epoch, has, err := c.Epoch()
	if err != nil {
		return o, err
	}
	if has {
		o.BuildTimestamp = time.Unix(epoch, 0).UTC().Format(time.RFC1123)
	}
	return o, nil
}

// stage1Pack is the pack options of stage1 images: SOURCE_DATE_EPOCH
// (else the epoch the kernel build derived from its source) and root
// ownership.
func stage1Pack(c *config.Config, kernelEpoch int64) (aci.PackOptions, error) {
	epoch, has, err := c.Epoch()
	if err != nil {
		return aci.PackOptions{}, err
	}
	if !has && kernelEpoch != 0 {
		epoch, has = kernelEpoch, true
	}
	return aci.PackOptions{Epoch: epoch, HasEpoch: has, ForceRoot: true}, nil
}

// stage1Sign signs a stage1 image with SIGNING_KEY.
func stage1Sign(c *config.Config) func(ctx context.Context, file string) error {
	return func(ctx context.Context, file string) error { return signerFor(c).SignFile(ctx, file) }
}

// stage1Options maps the configuration to stage1.Options for kernel k and
// the upstream stage1 image upstreamACI ("" for a dependency on it).
func stage1Options(c *config.Config, k *kernel.Result, upstreamACI string) (stage1.Options, error) {
	rktv, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return stage1.Options{}, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	pack, err := stage1Pack(c, k.Epoch.Unix)
	if err != nil {
		return stage1.Options{}, err
	}
	return stage1.Options{
		Kernel:      k,
		Rkt:         rktv,
		Name:        c.Stage1Name,
		OutDir:      c.OutDir,
		WorkDir:     filepath.Join(c.BuildDir, "stage1"),
		UpstreamACI: upstreamACI,
		Pack:        pack,
		Sign:        stage1Sign(c),
		SignInputs:  signerFor(c).Inputs(),
	}, nil
}

// upstreamOptions maps the configuration to upstream.Options.
func upstreamOptions(c *config.Config) (upstream.Options, error) {
	rktv, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return upstream.Options{}, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	if err := upstream.CheckAccel(c.Stage1QemuAccel); err != nil {
		return upstream.Options{}, err
	}
	pack, err := stage1Pack(c, 0)
	if err != nil {
		return upstream.Options{}, err
	}
	return upstream.Options{
		Rkt:        rktv,
		WorkDir:    filepath.Join(c.BuildDir, "stage1-upstream"),
		RktWorkDir: filepath.Join(c.BuildDir, "rkt"),
		OutDir:     c.OutDir,
		Accel:      c.Stage1QemuAccel,
		Pack:       pack,
		Sign:       stage1Sign(c),
		SignInputs: signerFor(c).Inputs(),
	}, nil
}

// smokeOptions boots the kernel of the stage1 rootfs built into b.
func smokeOptions(c *config.Config, b *stage1.Built) (stage1.SmokeOptions, error) {
	rktv, err := stage1.ParseRktVersion(c.UpstreamStage1Version)
	if err != nil {
		return stage1.SmokeOptions{}, fmt.Errorf("S1B_UPSTREAM_STAGE1_KVM_VERSION: %w", err)
	}
	return stage1.SmokeOptions{
		Kernel:  filepath.Join(b.Rootfs, stage1.KernelPath(rktv)),
		WorkDir: filepath.Join(c.BuildDir, "stage1", "smoke"),
		Accel:   c.QemuAccel,
	}, nil
}

// rktOptions builds rkt from source under S1B_BUILD_DIR/rkt.
func rktOptions(c *config.Config) rkt.Options {
	return rkt.Options{WorkDir: filepath.Join(c.BuildDir, "rkt")}
}

// nspawnOptions maps the configuration to static.Options:
// NSPAWN_RELEASE (empty: ROOTFS_SUITE), NSPAWN_BUILD_IN, S1B_BUILD_DIR,
// S1B_JOBS; the patches are the repository's nspawn/patches.
func nspawnOptions(c *config.Config) static.Options {
	rel := c.NspawnRelease
	if rel == "" {
		rel = c.RootfsSuite
	}
	ro := rootfs.Options{
		Arch:     c.RootfsArch,
		CacheDir: filepath.Join(c.CacheDir, "debs", "nspawn-"+rel+"-"+c.RootfsArch),
	}
	if rel == c.RootfsSuite {
		// A mirror or keyring configured for another suite may not carry
		// this release.
		ro.Mirror, ro.Keyring = c.RootfsMirror, c.RootfsKeyring
	}
	return static.Options{
		Release:  rel,
		BuildIn:  c.NspawnBuildIn,
		Dir:      filepath.Join(c.BuildDir, "nspawn"),
		PatchDir: nspawnPatchDir,
		Jobs:     c.Jobs,
		Rootfs:   ro,
	}
}

// --- end engine ---

// --- recipes ---

// RecipeSettings maps the configuration to the settings the image
// recipes read: ACI_REGISTRY, S1B_ACI_DIR, S1B_OUT_DIR, S1B_BUILD_DIR,
// CACHE_DIR, BINS_DIR, STORE_DIR, GO_VERSION, ROOTFS_*,
// SOURCE_DATE_EPOCH, S1B_JOBS, IMAGE_FORMATS and SIGNING_KEY. It is
// exported for programs and tests that call the recipe pipeline directly
// (e2e); mage does not list it (a target takes no *config.Config).
func RecipeSettings(c *config.Config) *recipes.Settings {
	epoch, has, _ := c.Epoch() // validated when the configuration was loaded
	return &recipes.Settings{
		Registry:   c.ACIRegistry,
		ACIDir:     c.ACIDir,
		OutDir:     c.OutDir,
		BuildDir:   c.BuildDir,
		CacheDir:   c.CacheDir,
		BinsDir:    c.BinsDir,
		StoreDir:   c.StoreDir,
		GoVersion:  c.GoVersion,
		Rootfs:     rootfsOptions(c),
		Epoch:      epoch,
		HasEpoch:   has,
		Jobs:       c.Jobs,
		Formats:    c.ImageFormats,
		SigningKey: c.SigningKey,
	}
}

// rootfsOptions maps the ROOTFS_* keys to rootfs.Options, building into
// <S1B_BUILD_DIR>/rootfs/<suite>-<arch> with the .debs cached in
// <CACHE_DIR>/debs/<suite>-<arch>.
func rootfsOptions(c *config.Config) rootfs.Options {
	return rootfs.Options{
		Suite:      c.RootfsSuite,
		Mirror:     c.RootfsMirror,
		Keyring:    c.RootfsKeyring,
		Variant:    c.RootfsVariant,
		Components: c.RootfsComponents,
		Packages:   c.RootfsPackages,
		Overlay:    c.RootfsOverlay,
		Arch:       c.RootfsArch,
		Builder:    c.RootfsBuilder,
		Dir:        filepath.Join(c.BuildDir, "rootfs", c.RootfsSuite+"-"+c.RootfsArch),
		CacheDir:   filepath.Join(c.CacheDir, "debs", c.RootfsSuite+"-"+c.RootfsArch),
	}
}

// --- end recipes ---

// --- model (signing, verification, image location) ---

// signerFor is the one signer of the configured key: SIGNING_KEY, its
// passphrase (SIGNING_PASSPHRASE_FILE or $KEY_PASSPHRASE) and the
// KEY_USE_* identity a generated key gets.
func signerFor(c *config.Config) *sign.Signer { return sign.NewSigner(signerOptions(c)) }

// signerOptions are signerFor's settings, for targets that change one
// (sign:genKey BASE).
func signerOptions(c *config.Config) sign.SignerOptions {
	return sign.SignerOptions{
		Base:           c.SigningKey,
		PassphraseFile: c.SigningPassphraseFile,
		Identity:       sign.Identity{Name: c.KeyUseName, Comment: c.KeyUseComment, Email: c.KeyUseEmail},
	}
}

// verifierForFlags is the policy sign:verify applies: -pubkey's key, or
// the keys TRUST_DIR trusts for -name, or else SIGNING_KEY's public key.
// It returns the image name to verify for ("" unless -name).
func verifierForFlags(c *config.Config, pubkey, name string) (sign.Verifier, string, error) {
	switch {
	case pubkey != "" && name != "":
		return sign.Verifier{}, "", fmt.Errorf("sign:verify: give -pubkey or -name, not both")
	case name != "":
		return sign.Verifier{Trust: sign.TrustStore{Dir: c.TrustDir}}, name, nil
	case pubkey != "":
		return sign.Verifier{Keys: []string{pubkey}}, "", nil
	}
	if err := c.Require("SIGNING_KEY"); err != nil {
		return sign.Verifier{}, "", err
	}
	return sign.Verifier{Keys: []string{c.SigningKey + sign.PublicKeySuffix}}, "", nil
}

// verifierFor is the verification policy of run and sign:verify -name:
// keys trusted for the image's name in TRUST_DIR, or this machine's own
// SIGNING_KEY.
func verifierFor(c *config.Config) sign.Verifier {
	v := sign.Verifier{Trust: sign.TrustStore{Dir: c.TrustDir}}
	if c.SigningKey != "" {
		v.Keys = []string{c.SigningKey + sign.PublicKeySuffix}
	}
	return v
}

// locatorFor finds images among recipe and stage1 outputs (S1B_ACI_DIR,
// S1B_OUT_DIR) and the store (STORE_DIR).
func locatorFor(c *config.Config) recipes.Locator {
	return recipes.NewLocator(RecipeSettings(c))
}

// fetchNet is the network of fetch and trust: the system CAs plus
// CERT_DIR/ca.crt when it exists, IDLE_TIMEOUT, the insecure flags, and
// the discovery port (-port, or PUBLISH_BASE_URL's port for its host).
func fetchNet(c *config.Config, name string, port *int, insecure, plainHTTP *bool) (fetch.Net, error) {
	n := fetch.Net{InsecureTLS: deref(insecure), InsecureHTTP: deref(plainHTTP)}
	n.IdleTimeout, _ = c.IdleTimeout() // validated when the configuration was loaded
	if ca, err := os.ReadFile(filepath.Join(c.CertDir, certs.CACertFile)); err == nil {
		n.ExtraCAs = ca
	}
	p, err := fetch.DiscoveryPort(name, c.PublishBaseURL, port)
	n.Port = p
	return n, err
}

// trustOptions are the settings of `mage trust` (and sign:trust): the
// key file, or discovery from the prefix when key is "discover"; TRUST_DIR.
func trustOptions(c *config.Config, key, prefix, fingerprint string, root bool, port *int, insecure, plainHTTP *bool) (fetch.TrustOptions, error) {
	n, err := fetchNet(c, prefix, port, insecure, plainHTTP)
	opts := fetch.TrustOptions{Net: n, Store: sign.TrustStore{Dir: c.TrustDir}, Prefix: prefix, Root: root, Fingerprint: fingerprint}
	if key != "discover" {
		opts.KeyFile = sign.KeyFile(key, sign.PublicKeySuffix)
	}
	return opts, err
}

// publishOptions are publish's settings: every ACI the locator lists
// (S1B_ACI_DIR, S1B_OUT_DIR), SIGNING_KEY's public key as the publishing
// key, PUBLISH_BASE_URL, PUBLISH_URL_TEMPLATE, and dir (default
// PUBLISH_DIR). When an image has an OCI layout beside it (and this is no
// dry run), the signing key is loaded for OCI simple signatures.
func publishOptions(ctx context.Context, c *config.Config, dir string) (publish.Options, error) {
	if err := c.Require("PUBLISH_BASE_URL", "SIGNING_KEY"); err != nil {
		return publish.Options{}, err
	}
	if dir == "" {
		dir = c.PublishDir
	}
	files, err := locatorFor(c).Files()
	if err != nil {
		return publish.Options{}, fmt.Errorf("publish: %w", err)
	}
	opts := publish.Options{Dir: dir, Images: files, PubKeys: []string{sign.KeyFile(c.SigningKey, sign.PublicKeySuffix)},
		BaseURL: c.PublishBaseURL, Template: c.PublishURLTemplate}
	if planning(ctx) || !slices.ContainsFunc(files, func(f string) bool {
		_, err := os.Stat(filepath.Join(oci.LayoutDir(f), "oci-layout"))
		return err == nil
	}) {
		return opts, nil
	}
	if opts.OCISigner, err = signerFor(c).Entity(); err != nil {
		return opts, fmt.Errorf("publish: signing the OCI images: %w", err)
	}
	return opts, nil
}

// serveOptions are serve's settings: PUBLISH_DIR itself (the server
// follows its `current` symlink per request, so a publish after start is
// picked up), an access log on stdout, and unless plain the TLS material
// in CERT_DIR, generated for CERT_HOSTS when absent.
func serveOptions(ctx context.Context, c *config.Config, plain bool) (serve.Options, error) {
	opts := serve.Options{Root: c.PublishDir, Log: os.Stdout, Plain: plain}
	if err := c.Require("PUBLISH_DIR", "SERVE_ADDR"); err != nil {
		return opts, err
	}
	scheme := "http"
	if !plain {
		res, err := certs.Ensure(c.CertDir, c.CertHosts)
		if err != nil {
			return opts, err
		}
		if len(res.Generated) > 0 {
			step.Summaryf(ctx, "serve: generated %s", strings.Join(res.Generated, ", "))
		}
		opts.CertFile, opts.KeyFile, scheme = res.ServerCert, res.ServerKey, "https"
	}
	opts.Ready = func(addr net.Addr) {
		step.Summaryf(ctx, "serve: %s on %s://%s (discovery tags point at %s); Ctrl-C stops", opts.Root, scheme, addr, c.PublishBaseURL)
	}
	return opts, nil
}

// --- bench ---

// benchOptions maps the configuration, BENCH_RUNS and ACI_BENCH_ROOTFS to
// bench.Options.
func benchOptions(c *config.Config) (bench.Options, error) {
	o := bench.Options{BuildDir: c.BuildDir, Recipes: RecipeSettings(c), KernelTools: kernelTools,
		Rootfs: rootfsOptions(c), Verifier: verifierFor(c), AciRootfs: os.Getenv("ACI_BENCH_ROOTFS"),
		Rkt: rktOptions(c), RktTools: rktTools}
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("BENCH_RUNS=%q is not a positive number of rounds: set e.g. BENCH_RUNS=3", v)
		}
		o.Runs = n
	}
	k, err := kernelOptions(c)
	if err != nil {
		return o, err
	}
	o.Kernel = k
	self, err := os.Executable()
	if err != nil {
		return o, err
	}
	o.Self = self
	return o, nil
}
