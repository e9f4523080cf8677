package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testDomain = "app.atlas11.test"

// writeTestCert writes a self-signed certificate for testDomain and
// 127.0.0.1 with the given serial, and its key, as PEM files in dir.
func writeTestCert(t *testing.T, dir, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: testDomain},
		DNSNames:              []string{testDomain},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// replaceFile puts src's content at dst the way deploy tools do: a new file
// renamed over the old one.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// servedSerial makes a fresh TLS handshake with addr (no session reuse) and
// returns the serial of the certificate the server presented.
func servedSerial(t *testing.T, addr, serverName string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: serverName, InsecureSkipVerify: true}) //nolint:gosec // the test reads the certificate itself
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// noRedirects is a client that shows redirects instead of following them.
func noRedirects(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
	}
}

func poolOf(t *testing.T, files ...string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(b) {
			t.Fatalf("%s: no certificate", f)
		}
	}
	return pool
}

// freePort reserves a loopback TCP port and releases it for the server.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Files mode: the server answers HTTPS with the files' certificate, HSTS
// on; replacing the files on disk changes the certificate at the very next
// handshake, on the HTTPS listener and on TURN over TLS alike, with no
// restart; a broken replacement keeps the previous one in service; plain
// HTTP on the redirect port is sent to HTTPS.
func TestHTTPS_FilesModeReloadsOnChangeAndRedirects(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir, "live", 1001)
	next, nextKey := writeTestCert(t, dir, "next", 1002)
	other, _ := writeTestCert(t, dir, "other", 1003)
	turnTLS := freePort(t)
	_, turnPort, _ := net.SplitHostPort(turnTLS)
	config := testConfig + "  tls_port: " + turnPort + "\n" + `tls:
  mode: files
  cert_file: ` + certFile + `
  key_file: ` + keyFile + `
  http_redirect_addr: 127.0.0.1:0
`
	config = strings.Replace(config, "  tls_port: 0\n", "", 1)
	var redirect string
	base := startServerWith(t, t.TempDir(), config, func(line string) {
		if u, ok := strings.CutPrefix(line, "http: redirecting to HTTPS from "); ok {
			redirect = u
		}
	})
	if !strings.HasPrefix(base, "https://") || redirect == "" {
		t.Fatalf("listening on %q, redirect %q: want https and a redirect listener", base, redirect)
	}
	addr := strings.TrimPrefix(base, "https://")
	client := noRedirects(poolOf(t, certFile, next))

	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains" {
		t.Fatalf("GET /healthz over HTTPS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	if got := servedSerial(t, addr, testDomain); got != "1001" {
		t.Fatalf("HTTPS serves serial %s, want 1001", got)
	}
	if got := servedSerial(t, turnTLS, ""); got != "1001" {
		t.Fatalf("TURN over TLS serves serial %s, want the HTTPS certificate 1001", got)
	}

	// The renewed pair is deployed: the next handshakes see it.
	replaceFile(t, next, certFile)
	replaceFile(t, nextKey, keyFile)
	if got := servedSerial(t, addr, testDomain); got != "1002" {
		t.Fatalf("after replacing the files HTTPS serves serial %s, want 1002", got)
	}
	if got := servedSerial(t, turnTLS, ""); got != "1002" {
		t.Fatalf("after replacing the files TURN over TLS serves serial %s, want 1002", got)
	}
	// A certificate whose key is not the one on disk: refused, 1002 stays.
	replaceFile(t, other, certFile)
	if got := servedSerial(t, addr, testDomain); got != "1002" {
		t.Fatalf("after a mismatched certificate HTTPS serves serial %s, want 1002 kept", got)
	}
	resp, err = client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS after a bad replacement: %v", err)
	}
	resp.Body.Close()

	// Port 80: GET and HEAD are moved for good, other methods keep theirs.
	_, httpsPort, _ := net.SplitHostPort(addr)
	for method, code := range map[string]int{"GET": 301, "HEAD": 301, "POST": 308} {
		req, _ := http.NewRequest(method, redirect+"/api/v1/me?x=1", nil)
		req.Host = testDomain
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "https://" + testDomain + ":" + httpsPort + "/api/v1/me?x=1"
		if resp.StatusCode != code || resp.Header.Get("Location") != want {
			t.Errorf("%s on the redirect port: %d %q, want %d %q", method, resp.StatusCode, resp.Header.Get("Location"), code, want)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s on plain HTTP carries HSTS", method)
		}
	}
}

// Plain HTTP (the default) sends no HSTS: a browser would otherwise refuse
// the plain-HTTP origin for two years.
func TestHTTPS_NoHSTSOnPlainHTTP(t *testing.T) {
	base := startServer(t)
	if !strings.HasPrefix(base, "http://") {
		t.Fatalf("default listener %q is not plain HTTP", base)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Fatalf("plain HTTP answered with HSTS %q", h)
	}
}

// TURN's own pair (turn.cert_file, with HTTPS off, as behind a proxy) is
// reloaded the same way: the next TURN-over-TLS handshake after the files
// change gets the new certificate.
func TestHTTPS_TURNCertFileReloadsWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir, "turn", 2001)
	next, nextKey := writeTestCert(t, dir, "next", 2002)
	turnTLS := freePort(t)
	config := strings.Replace(testConfig, "  tls_port: 0\n", "  tls_port: "+port(turnTLS)+"\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n", 1)
	base := startServerWith(t, t.TempDir(), config, nil)
	if !strings.HasPrefix(base, "http://") {
		t.Fatalf("main listener %s: want plain HTTP with tls.mode off", base)
	}
	if got := servedSerial(t, turnTLS, ""); got != "2001" {
		t.Fatalf("TURN over TLS serves serial %s, want 2001", got)
	}
	replaceFile(t, next, certFile)
	replaceFile(t, nextKey, keyFile)
	if got := servedSerial(t, turnTLS, ""); got != "2002" {
		t.Fatalf("after replacing turn.cert_file TURN over TLS serves serial %s, want 2002", got)
	}
}

// With HTTPS on, browsers are told to reach TURN over TLS by the
// certificate's name (a turns: URL with an IP would fail verification).
func TestHTTPS_TURNURLsNameTheCertificateDomain(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir, "live", 1)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.SFU.UDPPort, cfg.SFU.TCPPort, cfg.TURN.Port, cfg.TURN.TLSPort = 0, 0, 0, 0
	cfg.TLS.Mode, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.Domains = tlsFiles, certFile, keyFile, []string{testDomain}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := newPlatform(cfg, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	list := p.iceServers("user-1")
	var turns string
	for _, s := range list {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turns:") {
				turns = u
			}
		}
	}
	if !strings.HasPrefix(turns, "turns:"+testDomain+":") {
		t.Fatalf("ICE servers %+v: want a turns: URL on %s", list, testDomain)
	}
}
