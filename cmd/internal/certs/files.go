// Package certs is the binary's certificate plumbing: a source of TLS
// certificates (key files reloaded when they change, or ACME through
// certmagic), the port-80 redirect and HSTS. Every consumer (the HTTPS
// listener, TURN over TLS) asks the source at each handshake, so a renewed
// or replaced certificate is served without a restart and without touching
// connections already open.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Source hands out the certificate for a TLS handshake.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// FileSource serves a PEM certificate chain and key from disk and reloads
// them when either file changes (size, modification time or the file itself,
// as after a rename). The check is two stat calls per handshake, so the very
// next handshake after a replacement sees the new pair. A pair that does not
// load (a half-written file, a key that does not match) keeps the previous
// certificate in service and is retried on the next handshake.
type FileSource struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certStat os.FileInfo
	keyStat  os.FileInfo
	failed   [2]os.FileInfo // the pair last refused, so it is logged once
}

// NewFileSource loads the pair, failing with a message that names the
// problem when the files are missing, unreadable or do not match.
func NewFileSource(certFile, keyFile string, log *slog.Logger) (*FileSource, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &FileSource{certFile: certFile, keyFile: keyFile, log: log}
	cs, ks, err := s.stat()
	if err != nil {
		return nil, err
	}
	cert, err := LoadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	s.cert, s.certStat, s.keyStat = cert, cs, ks
	return s, nil
}

// LoadPair reads and checks a certificate chain and its key.
func LoadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", certFile, err)
		}
	}
	return &cert, nil
}

func (s *FileSource) stat() (os.FileInfo, os.FileInfo, error) {
	cs, err := os.Stat(s.certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate file: %w", err)
	}
	ks, err := os.Stat(s.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	return cs, ks, nil
}

func changed(old, cur os.FileInfo) bool {
	return old == nil || !os.SameFile(old, cur) || old.Size() != cur.Size() || !old.ModTime().Equal(cur.ModTime())
}

// GetCertificate is tls.Config.GetCertificate.
func (s *FileSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Current(), nil
}

// Current returns the pair on disk now, reloading it if it changed.
func (s *FileSource) Current() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ks, err := s.stat()
	if err != nil {
		// Mid-replacement (the file renamed away) or removed: keep serving.
		return s.cert
	}
	if !changed(s.certStat, cs) && !changed(s.keyStat, ks) {
		return s.cert
	}
	cert, err := LoadPair(s.certFile, s.keyFile)
	if err != nil {
		if changed(s.failed[0], cs) || changed(s.failed[1], ks) {
			s.log.Warn("TLS certificate files changed but do not load; still serving the previous certificate", "err", err)
			s.failed = [2]os.FileInfo{cs, ks}
		}
		return s.cert
	}
	s.cert, s.certStat, s.keyStat, s.failed = cert, cs, ks, [2]os.FileInfo{}
	s.log.Info("TLS certificate reloaded", "file", s.certFile, "subject", cert.Leaf.Subject.String(),
		"serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter.Format(time.RFC3339))
	return cert
}
