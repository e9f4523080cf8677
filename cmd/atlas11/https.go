package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"atlas11/cmd/internal/certs"
)

// certSources are the certificates the process serves, built before the
// listeners so TURN over TLS and HTTPS share one source.
type certSources struct {
	main certs.Source // nil when tls.mode is off
	acme *certs.ACME  // set in acme mode
	turn certs.Source // nil when TURN over TLS is off
}

// newCertSources builds the HTTPS source from tls.* and TURN's from
// turn.cert_file when set (its own pair, also reloaded), else the HTTPS one.
func newCertSources(cfg Config, log *slog.Logger) (*certSources, error) {
	cs := &certSources{}
	log = log.With("component", "tls")
	switch cfg.TLS.Mode {
	case tlsFiles:
		src, err := certs.NewFileSource(cfg.TLS.CertFile, cfg.TLS.KeyFile, log)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		cs.main = src
	case tlsACME:
		a, err := certs.NewACME(certs.ACMEConfig{
			Domains:            cfg.TLS.Domains,
			Email:              cfg.TLS.Email,
			CA:                 cfg.TLS.CA,
			CARoot:             cfg.TLS.CARoot,
			Challenges:         cfg.TLS.Challenges,
			StorageDir:         cfg.certStorageDir(),
			RenewCheckInterval: cfg.TLS.RenewCheckInterval,
			Logger:             log,
		})
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		cs.main, cs.acme = a, a
	}
	cs.turn = cs.main
	if cfg.TURN.CertFile != "" {
		src, err := certs.NewFileSource(cfg.TURN.CertFile, cfg.TURN.KeyFile, log.With("listener", "turn"))
		if err != nil {
			return nil, fmt.Errorf("turn.cert_file: %w", err)
		}
		cs.turn = src
	}
	return cs, nil
}

// listenMain binds http.addr and, with HTTPS on, turns srv into an HTTPS
// server (HSTS on every answer), binds the port-80 redirect and starts
// certificate management. It returns the listener srv must serve and the
// URL scheme.
func (p *platform) listenMain(srv *http.Server, stdout io.Writer) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", p.cfg.HTTP.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("http: listen %s: %w", p.cfg.HTTP.Addr, err)
	}
	ln = limitPerIP(ln, p.cfg.HTTP.MaxConnsPerIP, p.trusted.contains, p.log) // below TLS: a handshake takes a slot too
	if p.certs.main == nil {
		return ln, "http", nil
	}
	tc := &tls.Config{GetCertificate: p.certs.main.GetCertificate, MinVersion: tls.VersionTLS12}
	if p.certs.acme != nil {
		tc = p.certs.acme.TLSConfig() // also answers TLS-ALPN-01
	}
	// h2 first, as net/http would set it for ServeTLS.
	tc.NextProtos = append([]string{"h2", "http/1.1"}, tc.NextProtos...)
	srv.TLSConfig = tc
	srv.Handler = certs.HSTS(srv.Handler)

	host, port := splitPort(ln.Addr())
	redirectPort := 0
	if addr := p.cfg.TLS.HTTPRedirectAddr; addr != "" {
		rl, err := net.Listen("tcp", addr)
		if err != nil {
			_ = ln.Close()
			return nil, "", fmt.Errorf("tls.http_redirect_addr: listen %s: %w", addr, err)
		}
		var h http.Handler = certs.Redirect(strconv.Itoa(port))
		if p.certs.acme != nil {
			h = p.certs.acme.HTTPHandler(h)
		}
		rs := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			ErrorLog:          srv.ErrorLog,
		}
		go func() {
			if err := rs.Serve(rl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("HTTP redirect listener stopped", "err", err)
			}
		}()
		p.closers = append(p.closers, rs.Close)
		_, redirectPort = splitPort(rl.Addr())
		fmt.Fprintf(stdout, "http: redirecting to HTTPS from http://%s\n", rl.Addr())
	}
	if p.certs.acme != nil {
		// Public CAs validate on the standard ports only; other ports are for
		// tests, a private CA, or a port mapping in front.
		if port != 443 || (redirectPort != 0 && redirectPort != 80) {
			p.log.Warn("ACME: public CAs validate TLS-ALPN-01 on port 443 and HTTP-01 on port 80; make sure these reach this process",
				"https_port", port, "http_port", redirectPort)
		}
		if err := p.certs.acme.Start(host, redirectPort, port); err != nil {
			_ = ln.Close()
			return nil, "", fmt.Errorf("tls: %w", err)
		}
	}
	return tls.NewListener(ln, tc), "https", nil
}

func splitPort(a net.Addr) (string, int) {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return "", 0
	}
	host := ""
	if !t.IP.IsUnspecified() {
		host = t.IP.String()
	}
	return host, t.Port
}
