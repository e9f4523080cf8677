package main

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"atlas11/cmd/internal/certs"
)

// TLS modes of the main listener.
const (
	tlsOff   = "off"   // plain HTTP: local use, or behind a reverse proxy that terminates TLS
	tlsFiles = "files" // a certificate and key on disk, reloaded when they change
	tlsACME  = "acme"  // certificates obtained and renewed over ACME (certmagic)
)

// letsEncrypt is the default ACME directory.
const letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// TLSSettings is HTTPS on the main listener (http.addr) and, unless
// turn.cert_file says otherwise, TURN over TLS.
type TLSSettings struct {
	Mode       string   `yaml:"mode"`       // off, files or acme
	Domains    []string `yaml:"domains"`    // acme: names to certify; the first is also TURN's public host
	Email      string   `yaml:"email"`      // acme: account contact for expiry notices
	CA         string   `yaml:"ca"`         // acme: directory URL
	CARoot     string   `yaml:"ca_root"`    // acme: extra root trusted for the CA's own HTTPS (private CA, tests)
	Challenges []string `yaml:"challenges"` // acme: http-01, tls-alpn-01; empty: both
	CertFile   string   `yaml:"cert_file"`  // files: PEM chain
	KeyFile    string   `yaml:"key_file"`   // files: PEM key
	// HTTPRedirectAddr is the plain-HTTP listener that redirects to HTTPS
	// and answers HTTP-01 challenges; empty disables it.
	HTTPRedirectAddr   string        `yaml:"http_redirect_addr"`
	RenewCheckInterval time.Duration `yaml:"renew_check_interval"` // acme: how often expiry is checked
}

func defaultTLSSettings() TLSSettings {
	return TLSSettings{
		Mode:               tlsOff,
		CA:                 letsEncrypt,
		HTTPRedirectAddr:   ":80",
		RenewCheckInterval: 10 * time.Minute,
	}
}

// On reports whether the main listener speaks HTTPS.
func (t TLSSettings) On() bool { return t.Mode == tlsFiles || t.Mode == tlsACME }

// storageDir is where certmagic keeps keys, certificates and the account.
func (c *Config) certStorageDir() string { return filepath.Join(c.DataDir, "certmagic") }

func (c *Config) validateTLS() error {
	t := c.TLS
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: tls.%s: %s", key, fmt.Sprintf(format, args...))
	}
	switch t.Mode {
	case tlsOff:
		if t.CertFile != "" || t.KeyFile != "" {
			return bad("mode", "is off but tls.cert_file or tls.key_file is set; use mode: files")
		}
		return nil
	case tlsFiles, tlsACME:
	default:
		return bad("mode", "must be off, files or acme, got %q", t.Mode)
	}
	if t.HTTPRedirectAddr != "" {
		_, port, err := net.SplitHostPort(t.HTTPRedirectAddr)
		if err != nil {
			return bad("http_redirect_addr", "%q: %v", t.HTTPRedirectAddr, err)
		}
		if t.HTTPRedirectAddr == c.HTTP.Addr && port != "0" {
			return bad("http_redirect_addr", "%q is also http.addr", t.HTTPRedirectAddr)
		}
	}
	if t.Mode == tlsFiles {
		switch {
		case t.CertFile == "":
			return bad("cert_file", "must be set when tls.mode is files")
		case t.KeyFile == "":
			return bad("key_file", "must be set when tls.mode is files")
		}
		for key, f := range map[string]string{"cert_file": t.CertFile, "key_file": t.KeyFile} {
			if _, err := os.ReadFile(f); err != nil {
				return bad(key, "%v", err)
			}
		}
		if _, err := certs.LoadPair(t.CertFile, t.KeyFile); err != nil {
			return bad("cert_file", "%v", err)
		}
		return validateDomains(t.Domains, bad)
	}
	// ACME.
	if len(t.Domains) == 0 {
		return bad("domains", "must list at least one domain name when tls.mode is acme")
	}
	if err := validateDomains(t.Domains, bad); err != nil {
		return err
	}
	if t.Email == "" {
		return bad("email", "must be set when tls.mode is acme (the CA sends expiry notices there)")
	}
	if a, err := mail.ParseAddress(t.Email); err != nil || a.Address != t.Email {
		return bad("email", "%q is not an e-mail address", t.Email)
	}
	if u, err := url.Parse(t.CA); err != nil || u.Scheme != "https" || u.Host == "" {
		return bad("ca", "%q must be an https:// ACME directory URL", t.CA)
	}
	if t.CARoot != "" {
		if _, err := os.ReadFile(t.CARoot); err != nil {
			return bad("ca_root", "%v", err)
		}
	}
	http01 := len(t.Challenges) == 0
	for _, ch := range t.Challenges {
		switch ch {
		case certs.ChallengeHTTP01:
			http01 = true
		case certs.ChallengeTLSALPN01:
		default:
			return bad("challenges", "%q is not http-01 or tls-alpn-01", ch)
		}
	}
	if http01 && t.HTTPRedirectAddr == "" {
		return bad("http_redirect_addr", "must be set for the http-01 challenge (or set tls.challenges: [tls-alpn-01])")
	}
	if t.RenewCheckInterval < time.Second {
		return bad("renew_check_interval", "must be at least 1s, got %s", t.RenewCheckInterval)
	}
	return nil
}

func validateDomains(domains []string, bad func(string, string, ...any) error) error {
	for _, d := range domains {
		if err := checkDomain(d); err != nil {
			return bad("domains", "%q: %v", d, err)
		}
	}
	return nil
}

// checkDomain accepts a plain DNS name: what ACME's HTTP-01 and TLS-ALPN-01
// can certify (no wildcard, no IP address, no port or scheme).
func checkDomain(d string) error {
	if net.ParseIP(d) != nil {
		return errors.New("an IP address; give the host's DNS name")
	}
	if len(d) > 253 || !strings.Contains(d, ".") {
		return errors.New("not a fully qualified domain name")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a valid domain name")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return errors.New("not a valid domain name (lower-case letters, digits, '-' and '.' only)")
			}
		}
	}
	return nil
}
