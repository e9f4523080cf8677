package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/caddyserver/certmagic"
)

// Challenge types an ACME source may answer.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// ACMEConfig is an ACME-managed certificate for a fixed list of domains.
type ACMEConfig struct {
	Domains    []string
	Email      string
	CA         string   // directory URL; empty is Let's Encrypt production
	CARoot     string   // PEM file of extra roots trusted for the CA's own HTTPS (a private or test CA)
	Challenges []string // subset of http-01, tls-alpn-01; empty is both
	StorageDir string   // keys, certificates and the ACME account live here
	// RenewCheckInterval is how often certificates are checked for renewal;
	// zero is certmagic's default (10 minutes).
	RenewCheckInterval time.Duration
	// OCSPCheckInterval is how often OCSP staples are refreshed; zero is
	// certmagic's default (1 hour).
	OCSPCheckInterval time.Duration
	Logger            *slog.Logger
}

// ACME obtains and renews certificates with certmagic: keys and
// certificates are kept in StorageDir, renewals happen in the background
// and replace the certificate in the cache that every handshake reads, and
// OCSP responses are stapled when the CA offers them.
type ACME struct {
	cfg    ACMEConfig
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	cancel context.CancelFunc
}

// NewACME checks cfg and prepares the manager; Start begins obtaining.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("at least one domain is needed")
	}
	if cfg.Email == "" {
		return nil, errors.New("an e-mail address for the ACME account is needed")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var roots *x509.CertPool
	if cfg.CARoot != "" {
		pem, err := os.ReadFile(cfg.CARoot)
		if err != nil {
			return nil, fmt.Errorf("CA root: %w", err)
		}
		roots, err = x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA root %s: no PEM certificate in the file", cfg.CARoot)
		}
	}
	challenges := cfg.Challenges
	if len(challenges) == 0 {
		challenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}
	}
	for _, c := range challenges {
		if c != ChallengeHTTP01 && c != ChallengeTLSALPN01 {
			return nil, fmt.Errorf("unknown challenge %q (http-01 or tls-alpn-01)", c)
		}
	}
	zl := zapLogger(cfg.Logger)
	a := &ACME{cfg: cfg}
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		RenewCheckInterval: cfg.RenewCheckInterval,
		OCSPCheckInterval:  cfg.OCSPCheckInterval,
		Logger:             zl,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{
		Storage:           &certmagic.FileStorage{Path: cfg.StorageDir},
		DefaultServerName: cfg.Domains[0],
		Logger:            zl,
		OnEvent:           a.onEvent,
	})
	a.issuer = certmagic.NewACMEIssuer(a.magic, certmagic.ACMEIssuer{
		CA:                      cfg.CA,
		Email:                   cfg.Email,
		Agreed:                  true,
		TrustedRoots:            roots,
		DisableHTTPChallenge:    !slices.Contains(challenges, ChallengeHTTP01),
		DisableTLSALPNChallenge: !slices.Contains(challenges, ChallengeTLSALPN01),
		Logger:                  zl,
	})
	if cfg.CA == "" {
		a.issuer.CA = certmagic.LetsEncryptProductionCA
	}
	a.magic.Issuers = []certmagic.Issuer{a.issuer}
	return a, nil
}

// Start loads the certificates from storage or obtains them, in the
// background. The listeners must already be up: host and the ports are where
// this process answers challenges, the plain-HTTP listener (HTTP-01, through
// HTTPHandler; 0 when there is none) and the HTTPS one (TLS-ALPN-01, through
// TLSConfig). Naming them keeps certmagic from binding solvers of its own.
// Failures are logged and retried with backoff until Close.
func (a *ACME) Start(host string, httpPort, tlsPort int) error {
	a.issuer.ListenHost, a.issuer.AltHTTPPort, a.issuer.AltTLSALPNPort = host, httpPort, tlsPort
	if httpPort == 0 {
		a.issuer.DisableHTTPChallenge = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if err := a.magic.ManageAsync(ctx, a.cfg.Domains); err != nil {
		cancel()
		return err
	}
	return nil
}

// Renew renews the certificates now, whatever their age (operators, tests).
func (a *ACME) Renew(ctx context.Context) error {
	for _, d := range a.cfg.Domains {
		if err := a.magic.RenewCertSync(ctx, d, true); err != nil {
			return err
		}
	}
	return nil
}

// TLSConfig is the HTTPS listener's configuration: it serves the managed
// certificates and answers TLS-ALPN-01 challenges.
func (a *ACME) TLSConfig() *tls.Config {
	c := a.magic.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	return c
}

// GetCertificate serves the managed certificate; a client without SNI (a
// TURN client dialling an IP) gets the first domain's.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.magic.GetCertificate(hello)
}

// HTTPHandler answers HTTP-01 challenges and hands every other request to next.
func (a *ACME) HTTPHandler(next http.Handler) http.Handler {
	return a.issuer.HTTPChallengeHandler(next)
}

// Close stops renewals and the cache's maintenance.
func (a *ACME) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.cache.Stop()
	return nil
}

func (a *ACME) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained", "cert_failed", "cert_ocsp_revoked":
		args := []any{"event", event}
		for _, k := range []string{"identifier", "renewal", "remaining", "issuer", "error"} {
			if v, ok := data[k]; ok {
				args = append(args, k, v)
			}
		}
		level := slog.LevelInfo
		if event != "cert_obtained" {
			level = slog.LevelError
		}
		a.cfg.Logger.Log(context.Background(), level, "ACME certificate", args...)
	}
	return nil
}
