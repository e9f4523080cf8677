package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each bad tls.* setting stops the start with a message naming the key, so
// an operator is not left with a server that silently serves plain HTTP or
// never gets a certificate.
func TestConfig_TLSRejectsBadSettingsNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir, "a", 1)
	otherCert, _ := writeTestCert(t, dir, "b", 2)
	missing := filepath.Join(dir, "missing.pem")
	acme := "tls:\n  mode: acme\n  domains: [app.example.org]\n  email: ops@example.org\n"
	cases := []struct{ name, yaml, want string }{
		{"unknown mode", "tls:\n  mode: https\n", "tls.mode"},
		{"files while off", "tls:\n  cert_file: " + certFile + "\n", "tls.mode"},
		{"files without cert", "tls:\n  mode: files\n  key_file: " + keyFile + "\n", "tls.cert_file: must be set"},
		{"files without key", "tls:\n  mode: files\n  cert_file: " + certFile + "\n", "tls.key_file: must be set"},
		{"files unreadable", "tls:\n  mode: files\n  cert_file: " + missing + "\n  key_file: " + keyFile + "\n", "tls.cert_file"},
		{"files not a pair", "tls:\n  mode: files\n  cert_file: " + otherCert + "\n  key_file: " + keyFile + "\n", "tls.cert_file"},
		{"acme without domains", "tls:\n  mode: acme\n  email: ops@example.org\n", "tls.domains: must list"},
		{"acme without email", "tls:\n  mode: acme\n  domains: [app.example.org]\n", "tls.email: must be set"},
		{"acme bad email", "tls:\n  mode: acme\n  domains: [app.example.org]\n  email: not-an-address\n", "tls.email"},
		{"acme IP domain", "tls:\n  mode: acme\n  domains: [203.0.113.7]\n  email: ops@example.org\n", "tls.domains"},
		{"acme wildcard", "tls:\n  mode: acme\n  domains: ['*.example.org']\n  email: ops@example.org\n", "tls.domains"},
		{"acme URL as domain", "tls:\n  mode: acme\n  domains: ['https://example.org']\n  email: ops@example.org\n", "tls.domains"},
		{"acme plain-http CA", acme + "  ca: http://ca.example.org/dir\n", "tls.ca"},
		{"acme missing CA root", acme + "  ca_root: " + missing + "\n", "tls.ca_root"},
		{"acme unknown challenge", acme + "  challenges: [dns-01]\n", "tls.challenges"},
		{"http-01 without port 80", acme + "  http_redirect_addr: ''\n", "tls.http_redirect_addr"},
		{"bad redirect addr", acme + "  http_redirect_addr: eighty\n", "tls.http_redirect_addr"},
		{"redirect on the HTTPS port", acme + "  http_redirect_addr: 127.0.0.1:8080\n", "tls.http_redirect_addr"},
		{"renew check too often", acme + "  renew_check_interval: 1ms\n", "tls.renew_check_interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if err := cfg.LoadYAML([]byte(tc.yaml), "test.yaml"); err != nil {
				t.Fatalf("parse: %v", err)
			}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// And the good ones pass.
	for _, good := range []string{
		acme,
		acme + "  challenges: [tls-alpn-01]\n  http_redirect_addr: ''\n",
		"tls:\n  mode: files\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n",
	} {
		cfg := DefaultConfig()
		if err := cfg.LoadYAML([]byte(good), "test.yaml"); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

// The README's minimal public set-up is a valid config.
func TestConfig_READMEHTTPSExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## HTTPS\n")
	if !ok {
		t.Fatal("README has no HTTPS section")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README's HTTPS section has no yaml example")
	}
	cfg := DefaultConfig()
	if err := cfg.LoadYAML([]byte(block), "README.md"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("README's HTTPS example: %v", err)
	}
	if cfg.TLS.Mode != tlsACME || cfg.HTTP.Addr != ":443" {
		t.Fatalf("README's HTTPS example: mode %q addr %q", cfg.TLS.Mode, cfg.HTTP.Addr)
	}
}
