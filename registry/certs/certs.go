// Package certs makes the TLS material the registry is served with: a small
// certificate authority and a server certificate signed by it, generated with
// Go's crypto (replacing the openssl commands of the original guide). Keys are
// written mode 0600; existing material is reused; a user-provided server
// certificate (server.crt + server.key without ca.key) is used as it is.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/rktbuild/rktbuild/internal/fsutil"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the certificate directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Paths names the files of a certificate directory.
type Paths struct {
	Dir        string
	CACert     string // empty when the user provided only a server certificate
	CAKey      string
	ServerCert string
	ServerKey  string
}

// PathsIn returns the file names used in dir.
func PathsIn(dir string) Paths {
	return Paths{
		Dir:        dir,
		CACert:     filepath.Join(dir, CACertFile),
		CAKey:      filepath.Join(dir, CAKeyFile),
		ServerCert: filepath.Join(dir, ServerCertFile),
		ServerKey:  filepath.Join(dir, ServerKeyFile),
	}
}

// Result says what Ensure did.
type Result struct {
	Paths
	// Generated lists the files written by this call.
	Generated []string
	// UserProvided is true when a server certificate without our CA key was
	// found and used unchanged.
	UserProvided bool
}

// Describe says what Ensure did with the material for hosts, for people.
func (r Result) Describe(hosts []string) string {
	switch {
	case r.UserProvided:
		return "using the provided " + r.ServerCert
	case len(r.Generated) == 0:
		return fmt.Sprintf("%s and %s are valid for %s; reused", r.CACert, r.ServerCert, strings.Join(hosts, ", "))
	}
	return "wrote " + strings.Join(r.Generated, ", ")
}

// Ensure makes sure dir holds a CA and a server certificate valid for hosts
// (DNS names or IP addresses). Existing, still valid material that covers
// hosts is reused; a server certificate that is expired, about to expire or
// misses a host is reissued from the existing CA. When dir holds a server
// certificate and key but no ca.key, they are the user's: they are checked
// (key matches, not expired) and used as they are.
func Ensure(dir string, hosts []string) (Result, error) {
	if len(hosts) == 0 {
		return Result{}, errors.New("certs: no host names: set CERT_HOSTS (e.g. localhost,127.0.0.1)")
	}
	p := PathsIn(dir)
	res := Result{Paths: p}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	if !exists(p.CAKey) && exists(p.ServerCert) && exists(p.ServerKey) {
		pair, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
		if err != nil {
			return res, fmt.Errorf("certs: user-provided %s/%s: %w (fix or remove them to generate new ones)", p.ServerCert, p.ServerKey, err)
		}
		if time.Now().After(pair.Leaf.NotAfter) {
			return res, fmt.Errorf("certs: user-provided %s expired on %s: replace it or remove it to generate one", p.ServerCert, pair.Leaf.NotAfter.Format(time.DateOnly))
		}
		res.UserProvided = true
		if !exists(p.CACert) {
			res.CACert = ""
		}
		return res, nil
	}

	caCert, caKey, err := loadCA(p)
	if err != nil {
		return res, err
	}
	if caCert == nil {
		caCert, caKey, err = newCA()
		if err != nil {
			return res, err
		}
		if err := writeKey(p.CAKey, caKey); err != nil {
			return res, err
		}
		if err := writeCert(p.CACert, caCert.Raw); err != nil {
			return res, err
		}
		res.Generated = append(res.Generated, p.CAKey, p.CACert)
		// A new CA invalidates any old server certificate.
		_ = os.Remove(p.ServerCert)
	}
	if serverOK(p, caCert, hosts) {
		return res, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return res, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"rktbuild registry"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return res, fmt.Errorf("certs: signing the server certificate: %w", err)
	}
	if err := writeKey(p.ServerKey, key); err != nil {
		return res, err
	}
	if err := writeCert(p.ServerCert, der); err != nil {
		return res, err
	}
	res.Generated = append(res.Generated, p.ServerKey, p.ServerCert)
	return res, nil
}

// Hosts returns the DNS names and IP addresses a certificate is valid for.
func Hosts(cert *x509.Certificate) []string {
	hosts := append([]string(nil), cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return hosts
}

// Pool returns a certificate pool holding the PEM certificates in file.
func Pool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// TrustHint explains how to make clients trust the CA in caCert.
func TrustHint(caCert string) string {
	abs, _ := filepath.Abs(caCert)
	return strings.Join([]string{
		"To make clients trust the registry's CA " + abs + ":",
		"  Debian/Ubuntu: cp " + abs + " /usr/local/share/ca-certificates/rktbuild-registry.crt && update-ca-certificates",
		"  curl:          curl --cacert " + abs + " https://...",
		"  Go programs:   SSL_CERT_FILE=" + abs + " (replaces the system roots for that process)",
		"  mage fetch:    uses CERT_DIR/ca.crt in addition to the system roots",
	}, "\n")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "rktbuild registry CA", Organization: []string{"rktbuild"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// loadCA returns the existing CA, or nils when there is none.
func loadCA(p Paths) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if !exists(p.CAKey) && !exists(p.CACert) {
		return nil, nil, nil
	}
	pair, err := tls.LoadX509KeyPair(p.CACert, p.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA %s/%s: %w (remove both to generate a new CA)", p.CACert, p.CAKey, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("certs: CA key %s is not an ECDSA key: remove %s and %s to generate a new CA", p.CAKey, p.CAKey, p.CACert)
	}
	if time.Now().After(pair.Leaf.NotAfter) || !pair.Leaf.IsCA {
		return nil, nil, fmt.Errorf("certs: %s is expired or not a CA: remove %s and %s to generate a new CA", p.CACert, p.CAKey, p.CACert)
	}
	return pair.Leaf, key, nil
}

// serverOK reports whether the server certificate exists, matches its key,
// chains to ca, covers hosts and is valid for at least another week.
func serverOK(p Paths, ca *x509.Certificate, hosts []string) bool {
	pair, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		return false
	}
	leaf := pair.Leaf
	if time.Now().Add(7 * 24 * time.Hour).After(leaf.NotAfter) {
		return false
	}
	if leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	have := Hosts(leaf)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		if !slices.Contains(have, h) {
			return false
		}
	}
	return true
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return fsutil.WriteFileBytes(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, der []byte) error {
	return fsutil.WriteFileBytes(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
