// Package fetch fetches images by name the way rkt did: appc discovery
// (github.com/appc/spec/discovery) over HTTPS finds the ACI and signature
// URLs, both are downloaded, the signature is verified against the trust
// store, the image's structure is checked and its manifest must carry the
// name and labels that were asked for — and only then is it stored in the
// content-addressed store. It also fetches and trusts public keys found by
// discovery (ac-discovery-pubkeys), never silently.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/appc/spec/discovery"
)

// Net says how to reach registries.
type Net struct {
	// ExtraCAs holds PEM certificates of CAs trusted besides the system's
	// (e.g. the CA made by `mage certs`). Empty means the system roots only.
	ExtraCAs []byte
	// InsecureTLS skips certificate verification (explicit option only).
	InsecureTLS bool
	// InsecureHTTP allows plain HTTP discovery and downloads (explicit
	// option only).
	InsecureHTTP bool
	// Port is the discovery port (0: the scheme's default). Image names
	// cannot carry a port, so a registry on another port needs this.
	Port uint
	// IdleTimeout abandons a download that receives no byte for this
	// long (0: DefaultIdleTimeout), with an *IdleError.
	IdleTimeout time.Duration
}

func (n Net) insecure() discovery.InsecureOption {
	var o discovery.InsecureOption
	if n.InsecureTLS {
		o |= discovery.InsecureTLS
	}
	if n.InsecureHTTP {
		o |= discovery.InsecureHTTP
	}
	return o
}

// roots returns the system roots plus n.ExtraCAs (nil: system roots).
func (n Net) roots() *x509.CertPool {
	if len(n.ExtraCAs) == 0 {
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(n.ExtraCAs)
	return pool
}

func (n Net) transport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		TLSClientConfig: &tls.Config{
			RootCAs:            n.roots(),
			InsecureSkipVerify: n.InsecureTLS, //nolint:gosec // only by explicit option
			MinVersion:         tls.VersionTLS12,
		},
	}
}

// Client returns the HTTP client used for downloads.
func (n Net) Client() *http.Client {
	return &http.Client{Transport: n.transport()}
}

// discoveryMu serialises use of the discovery package, whose HTTP clients
// are package variables.
var discoveryMu sync.Mutex

// withDiscovery runs fn with the discovery package's clients configured for n.
func (n Net) withDiscovery(fn func() error) error {
	discoveryMu.Lock()
	defer discoveryMu.Unlock()
	saved, savedInsecure := *discovery.Client, *discovery.ClientInsecureTLS
	defer func() { *discovery.Client, *discovery.ClientInsecureTLS = saved, savedInsecure }()
	t := n.transport()
	t.TLSClientConfig.InsecureSkipVerify = false
	discovery.Client.Transport = t
	discovery.Client.Timeout = time.Minute
	ti := n.transport()
	ti.TLSClientConfig.InsecureSkipVerify = true
	discovery.ClientInsecureTLS.Transport = ti
	discovery.ClientInsecureTLS.Timeout = time.Minute
	return fn()
}

// get downloads url, refusing plain HTTP unless allowed.
func (n Net) get(ctx context.Context, client *http.Client, url string) (*http.Response, error) {
	if !strings.HasPrefix(url, "https://") {
		if !(n.InsecureHTTP && strings.HasPrefix(url, "http://")) {
			return nil, fmt.Errorf("refusing %s: only https:// URLs are fetched (plain HTTP needs the explicit insecure-http option)", url)
		}
	}
	rctx, watch, stop := withIdle(ctx, url, n.IdleTimeout)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		stop()
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		stop()
		if ie, ok := context.Cause(rctx).(*IdleError); ok {
			return nil, ie
		}
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		stop()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	resp.Body = stopOnClose{watch(resp.Body), stop}
	return resp, nil
}

// getSmall downloads a small document (signature, key) of at most max bytes.
func (n Net) getSmall(ctx context.Context, client *http.Client, url string, max int64) ([]byte, error) {
	resp, err := n.get(ctx, client, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("GET %s: larger than %d bytes: not a signature or key", url, max)
	}
	return data, nil
}

func attemptsString(as []discovery.FailedAttempt) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s: %v", a.Prefix, a.Error))
	}
	return strings.Join(parts, "; ")
}
