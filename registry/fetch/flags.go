package fetch

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// DiscoveryPort is the discovery port for image name: port when given
// (it must be a TCP port), else the port of baseURL (PUBLISH_BASE_URL)
// when name's host is that URL's host (this machine's own registry on a
// non-standard port), else 0 (the scheme's default). Image names cannot
// carry a port, so this is how `mage fetch` and `mage trust` reach a
// registry on another port.
func DiscoveryPort(name, baseURL string, port *int) (uint, error) {
	if port != nil {
		if *port < 0 || *port > 65535 {
			return 0, fmt.Errorf("-port=%d is not a TCP port (0-65535)", *port)
		}
		return uint(*port), nil
	}
	host, _, _ := strings.Cut(name, "/")
	u, err := url.Parse(baseURL)
	if err != nil || host == "" || u.Hostname() != host || u.Port() == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, nil
	}
	return uint(p), nil
}

// PromptConfirm returns a TrustOptions.Confirm that shows each key's
// fingerprint and user on out and reads the answer from in: "y" or "yes"
// (any case) trusts it, anything else does not. prefix ("" for every
// name) is named in the question.
func PromptConfirm(in io.Reader, out io.Writer, prefix string) func(fpr, uid, src string) (bool, error) {
	r := bufio.NewReader(in)
	where := "every image name"
	if prefix != "" {
		where = "images under " + prefix
	}
	return func(fpr, uid, src string) (bool, error) {
		fmt.Fprintf(out, "Key from %s\n  fingerprint: %s\n  user:        %s\nTrust it for %s? [y/N] ", src, fpr, uid, where)
		line, err := r.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return false, fmt.Errorf("trust: reading the answer: %w", err)
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}
