package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rktbuild/rktbuild/internal/fsutil"
	"github.com/rktbuild/rktbuild/sign"
	"github.com/rktbuild/rktbuild/step"
)

// signSize is the artifact bench sign signs.
const signSize = 256 << 20

// Sign times signing a 256 MiB artifact with our signer against GnuPG
// (`gpg --armor --detach-sign`) with the same 4096-bit RSA key, medians of
// o.Runs (default 3) runs each, and checks that each side verifies the
// other's signature. Scratch files live in BuildDir/bench/sign.
func Sign(ctx context.Context, o Options) (Result, error) {
	dir, err := o.dir("sign")
	if err != nil {
		return Result{}, err
	}
	data := filepath.Join(dir, "artifact.bin")
	if fi, err := os.Stat(data); err != nil || fi.Size() != signSize {
		step.Summaryf(ctx, "bench sign: writing a %d MiB test artifact", signSize>>20)
		if err := fsutil.WriteFile(data, 0o644, writeArtifact); err != nil {
			return Result{}, err
		}
	}
	base := filepath.Join(dir, "benchkey")
	if _, err := os.Stat(base + sign.PrivateKeySuffix); err != nil {
		step.Summaryf(ctx, "bench sign: generating a 4096-bit RSA test key")
		if _, err := sign.GenKey(base, sign.Identity{Name: "rktbuild bench", Comment: "throwaway", Email: "bench@rktbuild.invalid"}, sign.DefaultBits, nil); err != nil {
			return Result{}, err
		}
	}
	info, err := sign.Identify(base + sign.PrivateKeySuffix)
	if err != nil {
		return Result{}, err
	}
	home, err := os.MkdirTemp("", "gpgbench")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(home)
	gpg := step.Cmd{Env: []string{"GNUPGHOME=" + home}}
	defer func() { _ = gpg.Run(context.Background(), "gpgconf", "--kill", "all") }()
	if err := gpg.Run(ctx, "gpg", "--batch", "--import", base+sign.PrivateKeySuffix); err != nil {
		return Result{}, err
	}
	n := o.runs(3)
	ours, err := median(n, func() error { return sign.SignFile(data, base, nil) })
	if err != nil {
		return Result{}, err
	}
	gpgSig := filepath.Join(dir, "artifact.gpg.asc")
	peer, err := median(n, func() error {
		return gpg.Run(ctx, "gpg", "--batch", "--yes", "--armor", "--detach-sign", "-u", info.Fingerprint, "-o", gpgSig, data)
	})
	if err != nil {
		return Result{}, err
	}
	// Each side must accept the other's signature.
	if err := gpg.Run(ctx, "gpg", "--batch", "--verify", data+sign.SignatureSuffix, data); err != nil {
		return Result{}, fmt.Errorf("GnuPG rejects our signature: %w", err)
	}
	if _, err := sign.VerifyFile(data, gpgSig, base); err != nil {
		return Result{}, fmt.Errorf("we reject GnuPG's signature: %w", err)
	}
	step.Summaryf(ctx, "bench sign: %d MiB with rsa4096: ours %.3fs (%.0f MB/s), gpg %.3fs", signSize>>20, ours.Seconds(), signSize/1e6/ours.Seconds(), peer.Seconds())
	return Result{Ours: ours, Peer: peer, PeerTool: "gpg --detach-sign"}, nil
}

// writeArtifact writes signSize bytes of a fixed, varied pattern.
func writeArtifact(w io.Writer) error {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*131 + i>>9)
	}
	for n := 0; n < signSize; n += len(buf) {
		buf[0] = byte(n >> 20)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
