// Command gpg-sign-tool makes and checks the OpenPGP keys and detached
// signatures rkt verifies, without GnuPG. It replaces the original
// gpg-sign-tool with the same commands, file names, messages and exit
// codes:
//
//	gpg-sign-tool genkey [-bits N] BASE   write BASE.key.asc (0600) and BASE.pub.asc
//	gpg-sign-tool sign FILE KEY           write FILE.asc, signed by KEY (BASE.key.asc)
//	gpg-sign-tool verify FILE PUB [SIG]   check SIG (default FILE.asc) with PUB
//	gpg-sign-tool identify KEYFILE        print fingerprint and user ID
//	gpg-sign-tool version                 print the version
//
// genkey reads the key's identity from KEY_USE_NAME, KEY_USE_COMMENT and
// KEY_USE_EMAIL. A passphrase, for genkey and sign, comes from the file
// named by SIGNING_PASSPHRASE_FILE or from KEY_PASSPHRASE, never from the
// command line. verify prints `Good signature from "Name (Comment) <email>"`
// on stderr.
//
// Exit codes: 0 success, 1 the operation failed (bad signature, wrong key,
// unreadable file, missing identity), 2 usage error (unknown command, wrong
// number of arguments, bad flag).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/rktbuild/rktbuild/sign"
)

const usage = `usage:
  gpg-sign-tool genkey [-bits N] BASE   write BASE.key.asc (mode 0600) and BASE.pub.asc;
                                        identity from KEY_USE_NAME, KEY_USE_COMMENT, KEY_USE_EMAIL
  gpg-sign-tool sign FILE KEY           write the armored detached signature FILE.asc
  gpg-sign-tool verify FILE PUB [SIG]   verify SIG (default FILE.asc) with public key PUB
  gpg-sign-tool identify KEYFILE        print a key's fingerprint and user ID
  gpg-sign-tool version                 print the version

A passphrase is read from the file named by $SIGNING_PASSPHRASE_FILE or from
$KEY_PASSPHRASE, never from arguments. Exit status: 0 ok, 1 failure, 2 usage.
`

// errUsage marks usage errors (exit 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usageErr(format string, args ...any) error { return errUsage{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// run executes one command and returns the exit status.
func run(args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	err := dispatch(args, stdout, stderr, lookup)
	var ue errUsage
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "gpg-sign-tool: %s\n\n%s", ue.msg, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "gpg-sign-tool: %v\n", err)
		return 1
	}
}

func dispatch(args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	if len(args) == 0 {
		return usageErr("missing command")
	}
	cmd, args := args[0], args[1:]
	want := func(names ...string) error {
		if len(args) != len(names) {
			return usageErr("%s takes %d argument(s): %s %s (got %d)", cmd, len(names), cmd, strings.Join(names, " "), len(args))
		}
		return nil
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		if err := want(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "gpg-sign-tool %s (rktbuild; RSA %d-bit keys, armored detached signatures)\n", version(), sign.DefaultBits)
		return nil
	case "genkey":
		fs := flag.NewFlagSet("genkey", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		bits := fs.Int("bits", sign.DefaultBits, "RSA key size")
		if err := fs.Parse(args); err != nil {
			return usageErr("genkey: %v", err)
		}
		args = fs.Args()
		if err := want("BASE"); err != nil {
			return err
		}
		id, err := sign.IdentityFromEnv(lookup)
		if err != nil {
			return err
		}
		pass, err := sign.PassphraseFromEnv(lookup)
		if err != nil {
			return err
		}
		fpr, err := sign.GenKey(args[0], id, *bits, pass)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s%s and %s%s\n", args[0], sign.PrivateKeySuffix, args[0], sign.PublicKeySuffix)
		fmt.Fprintf(stdout, "%s %s\n", strings.ToUpper(fpr), id)
		return nil
	case "sign":
		if err := want("FILE", "KEY"); err != nil {
			return err
		}
		// The key is given: signing never generates one here.
		if err := sign.SignerFromEnv("", lookup).SignFileWith(context.Background(), args[0], args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s%s\n", args[0], sign.SignatureSuffix)
		return nil
	case "verify":
		if len(args) == 3 {
			signer, err := sign.VerifyFile(args[0], args[2], args[1])
			return good(stderr, signer, err)
		}
		if len(args) != 2 {
			return usageErr("verify takes 2 or 3 arguments: verify FILE PUB [SIG] (got %d)", len(args))
		}
		signer, err := sign.VerifyFile(args[0], "", args[1])
		return good(stderr, signer, err)
	case "identify":
		if err := want("KEYFILE"); err != nil {
			return err
		}
		info, err := sign.Identify(args[0])
		if err != nil {
			return err
		}
		kind := "public key"
		if info.Private {
			kind = "private key"
			if info.Encrypted {
				kind += ", passphrase-protected"
			}
		}
		fmt.Fprintf(stdout, "fingerprint: %s\nuid: %s\nkey: %s %s, key ID %s, created %s\n",
			strings.ToUpper(info.Fingerprint), info.UserID, info.Algorithm, kind, info.KeyID,
			info.Created.UTC().Format("2006-01-02 15:04:05 UTC"))
		return nil
	}
	return usageErr("unknown command %q", cmd)
}

func good(stderr io.Writer, signer string, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Good signature from %q\n", signer)
	return nil
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}
