package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// validate checks the values whose mistakes would otherwise surface late
// and far away (in a certificate, a download, a tar header), so that even
// `mage config` reports them, naming the key, its origin and the fix.
func (c *Config) validate() error {
	var errs []error
	if _, _, err := c.Epoch(); err != nil {
		errs = append(errs, fmt.Errorf("%w: use whole seconds since 1970, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%%ct), or leave it empty", err))
	}
	if _, err := c.IdleTimeout(); err != nil {
		errs = append(errs, err)
	}
	for _, u := range []struct{ key, v string }{
		{"S1B_KERNEL_URL", c.KernelURL},
		{"PUBLISH_BASE_URL", c.PublishBaseURL},
	} {
		if err := checkURL(u.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s=%q %v", c.sources[u.key], u.key, u.v, err))
		}
	}
	for _, v := range c.ExtraKernelPatchURLs {
		if err := checkURL(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: S1B_EXTRA_KERNEL_PATCH_URLS entry %q %v", c.sources["S1B_EXTRA_KERNEL_PATCH_URLS"], v, err))
		}
	}
	for i, h := range c.CertHosts {
		// An image-name prefix such as example.com/images contributes
		// its host part (CERT_HOSTS defaults to include ${ACI_REGISTRY}).
		host, _, _ := strings.Cut(h, "/")
		if err := checkHost(host); err != nil {
			errs = append(errs, fmt.Errorf("%s: CERT_HOSTS entry %q %v", c.sources["CERT_HOSTS"], h, err))
			continue
		}
		c.CertHosts[i] = host
	}
	return errors.Join(errs...)
}

// IdleTimeout returns FETCH_IDLE_TIMEOUT as a duration (0 when empty: the
// fetch package's default).
func (c *Config) IdleTimeout() (time.Duration, error) {
	if c.FetchIdleTimeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.FetchIdleTimeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: FETCH_IDLE_TIMEOUT=%q is not a positive duration: write it like 30s or 2m", c.sources["FETCH_IDLE_TIMEOUT"], c.FetchIdleTimeout)
	}
	return d, nil
}

// checkURL accepts an empty value or an absolute http(s) URL with a host.
func checkURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("is not a URL (%v): write it as https://host/path", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("is not an http:// or https:// URL: write it as https://host/path")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("has no host: write it as https://host/path")
	}
	if u.User != nil {
		return errors.New("carries a user name or password: keep credentials out of the configuration")
	}
	return nil
}

// checkHost accepts an IP address or a DNS name (with an optional leading
// "*." wildcard label), as a certificate can carry them.
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 {
		return errors.New("is not a host name or IP address: use names like registry.example.com or addresses like 127.0.0.1")
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("is not a host name or IP address: use names like registry.example.com or addresses like 127.0.0.1")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("contains %q, which no host name may: use names like registry.example.com or addresses like 127.0.0.1", string(c))
			}
		}
	}
	return nil
}
