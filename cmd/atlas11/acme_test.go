package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"
	"github.com/pion/stun/v4"
	"golang.org/x/crypto/ocsp"

	"atlas11/web/webtest"
)

// pebbleVersion is Let's Encrypt's test ACME server, built from the module
// proxy at this pinned version and cached across runs.
const pebbleVersion = "v2.10.3"

// pebbleBinary builds (once per version) and returns the pebble program.
func pebbleBinary(t *testing.T) string {
	t.Helper()
	return goTool(t, "github.com/letsencrypt/pebble/v2/cmd/pebble", pebbleVersion)
}

// goTool builds a Go program from the module proxy at a pinned version,
// once per version, into ~/.cache/atlas11/bin, and returns its path.
func goTool(t *testing.T, pkg, version string) string {
	t.Helper()
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	name := pkg[strings.LastIndex(pkg, "/")+1:]
	dir := filepath.Join(home, ".cache", "atlas11", "bin", name+"-"+version)
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", pkg+"@"+version)
	cmd.Dir = t.TempDir() // outside this module: go install pkg@version builds on its own
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s@%s: %v\n%s", pkg, version, err, out)
	}
	return bin
}

// loopbackDNS answers every A question with 127.0.0.1 and everything else
// (AAAA, CAA) with no records, so Pebble's validation of the test domain
// reaches the server on loopback, as a public CA would reach it by its name.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Pebble's resolver asks over TCP: the same port serves both.
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: answer}, {Listener: ln, Handler: answer}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// pebble is a running Pebble CA.
type pebble struct {
	proc   *exec.Cmd
	dir    string // ACME directory URL
	caRoot string // PEM file: the root of Pebble's own HTTPS certificate
	mgmt   string // management API base URL
	client *http.Client
}

// startPebble runs Pebble on loopback, validating challenges for real on
// httpPort (HTTP-01) and tlsPort (TLS-ALPN-01) of whatever the test domain
// resolves to, with certificates valid for validity.
func startPebble(t *testing.T, httpPort, tlsPort string, validity time.Duration, ocspURL string) *pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	// Pebble's own HTTPS listener: a self-signed certificate for 127.0.0.1,
	// which the binary trusts through tls.ca_root.
	caCert, caKey := writeTestCert(t, dir, "pebble-listener", 1)
	listen, mgmt := freePort(t), freePort(t)
	var conf struct {
		Pebble map[string]any `json:"pebble"`
	}
	conf.Pebble = map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             caCert,
		"privateKey":              caKey,
		"httpPort":                mustAtoi(t, httpPort),
		"tlsPort":                 mustAtoi(t, tlsPort),
		"ocspResponderURL":        ocspURL,
		"profiles": map[string]any{
			"default": map[string]any{"description": "test", "validityPeriod": int(validity / time.Second)},
		},
	}
	confFile := filepath.Join(dir, "pebble.json")
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(confFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", loopbackDNS(t))
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no random bad nonces: keep the test quick
		"PEBBLE_AUTHZREUSE=0",      // every order is validated again, renewals included
	)
	logFile, err := os.Create(filepath.Join(dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("pebble log:\n%s", b)
		}
	})
	p := &pebble{
		proc:   cmd,
		dir:    "https://" + listen + "/dir",
		caRoot: caCert,
		mgmt:   "https://" + mgmt,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(t, caCert)}}},
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := p.client.Get(p.dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer on %s: %v", p.dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopCA ends Pebble, so nothing more can be issued.
func (p *pebble) stopCA(t *testing.T) {
	t.Helper()
	_ = p.proc.Process.Kill()
	_ = p.proc.Wait()
}

// cert fetches one of Pebble's issuing certificates ("roots/0", "intermediates/0").
func (p *pebble) cert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("pebble %s: no PEM in %q", path, b)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// atlasProc is a running atlas11 process with its log in a file.
type atlasProc struct {
	cmd     *exec.Cmd
	base    string
	logFile string
}

// startBinary runs the real binary with config and waits for it to listen.
func startBinary(t *testing.T, bin, dataDir, config string) *atlasProc {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "atlas11.yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &atlasProc{logFile: filepath.Join(dir, "atlas11.log")}
	logFile, err := os.Create(b.logFile)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "serve", "--data", dataDir, "--config", cfgFile)
	b.cmd.Stderr = logFile
	stdout, _ := b.cmd.StdoutPipe()
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.stop(t)
		_ = logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(b.logFile)
			t.Logf("atlas11 log:\n%s", out)
		}
	})
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "http: listening on "); ok {
				found <- u
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatal("atlas11 exited before listening")
		}
		b.base = u
	case <-time.After(30 * time.Second):
		t.Fatal("atlas11 did not listen within 30s")
	}
	return b
}

func (b *atlasProc) stop(t *testing.T) {
	if b.cmd.ProcessState != nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("atlas11 exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
		t.Error("atlas11 did not stop within 15s of SIGTERM")
	}
}

// alive reports whether the process is still the one started.
func (b *atlasProc) alive() bool {
	return b.cmd.ProcessState == nil && b.cmd.Process.Signal(syscall.Signal(0)) == nil
}

// leafFrom makes a fresh handshake with addr for serverName and returns the
// served chain and stapled OCSP response, or nil while the handshake fails
// (no certificate yet).
func leafFrom(addr, serverName string) (*tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: serverName, InsecureSkipVerify: true}) //nolint:gosec // verified by the caller against Pebble's roots
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.ConnectionState()
	return &st, nil
}

// waitIssued polls until addr serves a certificate for serverName issued by
// Pebble whose serial is not skip, and checks it chains to Pebble's root.
func waitIssued(t *testing.T, addr, serverName, skip string, roots, inter *x509.CertPool, within time.Duration) *tls.ConnectionState {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		st, err := leafFrom(addr, serverName)
		if err == nil {
			leaf := st.PeerCertificates[0]
			if leaf.SerialNumber.String() != skip {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: testDomain, Roots: roots, Intermediates: inter}); err != nil {
					t.Fatalf("%s serves a certificate that does not chain to Pebble's root: %v", addr, err)
				}
				return st
			}
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no new Pebble certificate within %s (last handshake error: %v)", addr, within, last)
	return nil
}

// spki is Chromium's form of a key to trust: base64 of SHA-256 of the SPKI.
func spki(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func acmeConfig(httpsAddr, httpAddr string, p *pebble, challenge string) string {
	redirect := httpAddr
	if challenge == "tls-alpn-01" {
		redirect = ""
	}
	return testConfig + `http:
  addr: ` + httpsAddr + `
tls:
  mode: acme
  domains: [` + testDomain + `]
  email: ops@atlas11.test
  ca: ` + p.dir + `
  ca_root: ` + p.caRoot + `
  challenges: [` + challenge + `]
  http_redirect_addr: "` + redirect + `"
  renew_check_interval: 1s
`
}

// The ACME path against a real ACME server: the real binary, in acme mode,
// obtains a certificate from Pebble (HTTP-01 validated for real on the
// port-80 listener, the test domain resolving to loopback); Chromium, which
// trusts Pebble's keys, loads the app over HTTPS on that name, in a secure
// context where getUserMedia gives camera and microphone; the short-lived
// certificate is renewed in the running process (same PID, new serial on
// HTTPS and on TURN over TLS, while a TURN-over-TLS connection opened before
// keeps answering). Port 80 redirects beside the challenges, and HTTPS
// answers carry HSTS.
func TestACME_PebbleIssuesRenewsAndChromiumGetsCamera(t *testing.T) {
	httpsAddr, httpAddr, turnTLS := freePort(t), freePort(t), freePort(t)
	p := startPebble(t, port(httpAddr), port(httpsAddr), 12*time.Second, "")
	bin := buildBinary(t)
	data := t.TempDir()
	config := strings.Replace(acmeConfig(httpsAddr, httpAddr, p, "http-01"), "  tls_port: 0\n", "  tls_port: "+port(turnTLS)+"\n", 1)
	srv := startBinary(t, bin, data, config)
	if srv.base != "https://"+httpsAddr {
		t.Fatalf("listening on %s, want https://%s", srv.base, httpsAddr)
	}
	root, inter := p.cert(t, "roots/0"), p.cert(t, "intermediates/0")
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	first := waitIssued(t, httpsAddr, testDomain, "", roots, inters, 30*time.Second).PeerCertificates[0]
	t.Logf("issued serial %s, valid %s", first.SerialNumber, first.NotAfter.Sub(first.NotBefore))
	// TURN over TLS serves the same certificate, to clients without SNI too.
	if st, err := leafFrom(turnTLS, ""); err != nil || st.PeerCertificates[0].SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("TURN over TLS: %v, want the HTTPS certificate %s", err, first.SerialNumber)
	}

	// Beside the challenges, port 80 redirects; HTTPS answers carry HSTS.
	allRoots := roots.Clone()
	allRoots.AddCert(inter)
	client := noRedirects(allRoots)
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/#/e/x", nil)
	req.Host = testDomain
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + testDomain + ":" + port(httpsAddr) + "/"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Fatalf("port 80 in acme mode: %d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
	}
	if resp, err = client.Get("https://" + testDomain + "/healthz"); err != nil {
		t.Fatalf("HTTPS with Pebble's chain verified: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("HTTPS /healthz: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}

	// Chromium on the real name, trusting Pebble's keys.
	ctx := webtest.Chrome(t,
		chromedp.Flag("host-resolver-rules", "MAP "+testDomain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki(root)+","+spki(inter)),
	)
	origin := "https://" + testDomain + ":" + port(httpsAddr)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(cctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("chromium on %s: %v", origin, err)
	}
	secure, err := chromedp.Run(cctx, chromedp.Evaluate[bool](`window.isSecureContext && location.protocol === 'https:'`))
	if err != nil || !secure {
		t.Fatalf("on %s: isSecureContext %v (%v), want a secure context", origin, secure, err)
	}
	media, err := chromedp.Run(cctx, chromedp.Evaluate[string](`navigator.mediaDevices.getUserMedia({video: true, audio: true}).then(
		s => { const k = s.getTracks().map(t => t.kind).sort().join(','); s.getTracks().forEach(t => t.stop()); return k; },
		e => 'error: ' + e.name + ': ' + e.message)`, chromedp.EvalAwaitPromise))
	if err != nil || media != "audio,video" {
		t.Fatalf("on %s: getUserMedia gave %q (%v), want audio and video", origin, media, err)
	}

	// The call's signaling WebSocket opens on the same origin.
	ws, err := chromedp.Run(cctx, chromedp.Evaluate[string](`new Promise(done => {
		const ws = new WebSocket('wss://' + location.host + '/api/v1/rtc');
		ws.onopen = () => { ws.close(); done('open'); };
		ws.onerror = () => done('error');
		setTimeout(() => done('timeout'), 5000);
	})`, chromedp.EvalAwaitPromise))
	if err != nil || ws != "open" {
		t.Fatalf("signaling WebSocket over HTTPS: %q (%v)", ws, err)
	}

	// A TURN-over-TLS connection opened before the renewal (a call's relay).
	held, err := tls.Dial("tcp", turnTLS, &tls.Config{ServerName: testDomain, RootCAs: allRoots})
	if err != nil {
		t.Fatalf("TURN over TLS with Pebble's chain verified: %v", err)
	}
	defer held.Close()
	stunBinding(t, held)

	// Renewal in the running process: a new serial, same process.
	pid := srv.cmd.Process.Pid
	renewed := waitIssued(t, httpsAddr, testDomain, first.SerialNumber.String(), roots, inters, 30*time.Second).PeerCertificates[0]
	if !srv.alive() || srv.cmd.Process.Pid != pid {
		t.Fatal("the server restarted to renew")
	}
	t.Logf("renewed: serial %s", renewed.SerialNumber)
	if st, err := leafFrom(turnTLS, ""); err != nil || st.PeerCertificates[0].SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("TURN over TLS after renewal: %v, still the old certificate", err)
	}
	stunBinding(t, held) // the connection from before the renewal carries on
	if _, err := chromedp.Run(cctx, chromedp.Navigate(origin+"/healthz")); err != nil {
		t.Fatalf("chromium after renewal: %v", err)
	}
	if body, err := chromedp.Run(cctx, chromedp.Evaluate[string](`document.body.innerText.trim()`)); err != nil || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("chromium after renewal: %q %v", body, err)
	}
}

// TLS-ALPN-01 alone, with no plain-HTTP listener at all: Pebble validates on
// the HTTPS port itself; the handshake staples the CA's OCSP answer. A
// restart then serves the certificate kept in the data directory at once,
// with the CA gone.
func TestACME_TLSALPN01OnTheHTTPSPortAndCertificateKeptAcrossRestart(t *testing.T) {
	httpsAddr := freePort(t)
	responder := &ocspResponder{}
	ocspSrv := httptest.NewServer(responder)
	defer ocspSrv.Close()
	p := startPebble(t, "5002", port(httpsAddr), 24*time.Hour, ocspSrv.URL+"/")
	responder.set(t, p)
	bin := buildBinary(t)
	data := t.TempDir()
	config := acmeConfig(httpsAddr, "", p, "tls-alpn-01")
	srv := startBinary(t, bin, data, config)
	root, inter := p.cert(t, "roots/0"), p.cert(t, "intermediates/0")
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	st := waitIssued(t, httpsAddr, testDomain, "", roots, inters, 30*time.Second)
	first := st.PeerCertificates[0]
	// OCSP stapling: the handshake carries the CA's "good" answer. The
	// staple may follow the certificate by a moment; poll briefly.
	for deadline := time.Now().Add(10 * time.Second); len(st.OCSPResponse) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if st, _ = leafFrom(httpsAddr, testDomain); st == nil {
			t.Fatal("handshake failed after issuance")
		}
	}
	if len(st.OCSPResponse) == 0 {
		t.Fatal("no OCSP response stapled")
	}
	staple, err := ocsp.ParseResponseForCert(st.OCSPResponse, first, inter)
	if err != nil || staple.Status != ocsp.Good {
		t.Fatalf("stapled OCSP response: %v (status %v), want good, signed by Pebble's intermediate", err, staple)
	}
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(data, "certmagic")); err != nil {
		t.Fatalf("no certificate storage in the data directory: %v", err)
	}

	p.stopCA(t)
	startBinary(t, bin, data, config)
	again := waitIssued(t, httpsAddr, testDomain, "", roots, inters, 10*time.Second).PeerCertificates[0]
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("after a restart the server serves serial %s, want the stored %s", again.SerialNumber, first.SerialNumber)
	}
}

// ocspResponder answers OCSP requests for Pebble's certificates as the CA's
// responder would: "good", signed with Pebble's intermediate key (Pebble
// names the responder in its certificates but does not run one).
type ocspResponder struct {
	mu   sync.Mutex
	cert *x509.Certificate
	key  crypto.Signer
}

func (o *ocspResponder) set(t *testing.T, p *pebble) {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/intermediate-keys/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("pebble intermediate key: no PEM in %q", b)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				t.Fatalf("pebble intermediate key: %v", err)
			}
		}
	}
	o.mu.Lock()
	o.cert, o.key = p.cert(t, "intermediates/0"), key.(crypto.Signer)
	o.mu.Unlock()
}

func (o *ocspResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var der []byte
	if r.Method == http.MethodPost {
		der, _ = io.ReadAll(io.LimitReader(r.Body, 10000))
	} else {
		der, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(r.URL.Path, "/"))
	}
	req, err := ocsp.ParseRequest(der)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil || o.cert == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	now := time.Now().Truncate(time.Second)
	out, err := ocsp.CreateResponse(o.cert, o.cert, ocsp.Response{
		Status: ocsp.Good, SerialNumber: req.SerialNumber,
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
	}, o.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(out)
}

// stunBinding sends a STUN Binding request on a TURN stream connection and
// waits for its success answer.
func stunBinding(t *testing.T, c net.Conn) {
	t.Helper()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatalf("STUN over TLS: %v", err)
	}
	head := make([]byte, 20)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatalf("STUN over TLS: no answer: %v", err)
	}
	body := make([]byte, int(head[2])<<8|int(head[3]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("STUN over TLS: %v", err)
	}
	m := &stun.Message{Raw: append(head, body...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingSuccess || m.TransactionID != req.TransactionID {
		t.Fatalf("STUN over TLS: answer %v (%v), want a Binding success", m.Type, err)
	}
}
