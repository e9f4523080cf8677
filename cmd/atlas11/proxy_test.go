package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// readmeBlock returns the fenced block that follows <!-- name --> in the
// README, so the documented proxy configs are the ones tested.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- "+name+" -->\n")
	if !ok {
		t.Fatalf("README has no <!-- %s --> block", name)
	}
	_, body, _ := strings.Cut(after, "\n") // the ```lang line
	block, _, ok := strings.Cut(body, "```\n")
	if !ok {
		t.Fatalf("README block %s is not closed", name)
	}
	file, err := os.ReadFile("../../" + name)
	if err != nil {
		t.Fatal(err)
	}
	if block != string(file) {
		t.Fatalf("README's %s differs from the file", name)
	}
	return block
}

// from is an HTTP client whose connections leave from the loopback address
// ip, so the server can tell test clients apart.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// seenClient sends a request carrying a forged X-Forwarded-For and returns
// the client address the server's log line for that request names.
func seenClient(t *testing.T, hc *http.Client, base string, logs *lockedBuffer) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Real-IP", "203.0.113.9")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-ID")
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["request_id"] == id {
				return fmt.Sprint(rec["client"])
			}
		}
	}
	t.Fatalf("no access log line for request %q", id)
	return ""
}

// The signaling WebSocket upgrades through the proxy and carries messages
// both ways: a join with a bad token is answered with a refusal.
func wsThrough(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/rtc", nil)
	if err != nil {
		t.Fatalf("WebSocket upgrade: %v (%v)", err, resp)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","token":"not-a-token"}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil && websocket.CloseStatus(err) == -1 {
		t.Fatalf("no answer over the WebSocket: %v", err)
	}
	t.Logf("WebSocket answer: %s %v", msg, err)
}

// waitUp polls base until it answers /healthz.
func waitUp(t *testing.T, base string, proc *exec.Cmd) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatalf("%s never answered through %s", base, proc.Path)
}

// Real nginx and Caddy, configured with the README's text, in front of the
// real binary: the server sees the real client address through either,
// ignores X-Forwarded-For from a peer it does not trust (a client forging
// one, directly or through a proxy), and the signaling WebSocket works.
func TestProxy_NginxAndCaddyPassTheRealClientAndWebSockets(t *testing.T) {
	nginxConf := readmeBlock(t, "configs/nginx/atlas11.conf")
	caddyfile := readmeBlock(t, "configs/caddy/Caddyfile")
	for _, tool := range []string{"/usr/sbin/nginx", "caddy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (.ci/run installs nginx-light and caddy): %v", tool, err)
		}
	}

	bin := buildBinary(t)
	cfg := writeConfig(t, `
admin_addr: 127.0.0.1:0
log:
  level: debug
  format: json
http:
  trusted_proxies: [127.0.0.1/32]
sfu:
  udp_port: 0
  tcp_port: 0
turn:
  port: 0
  tls_port: 0
`)
	p := spawn(t, bin, filepath.Join(t.TempDir(), "data"), "--config", cfg)
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGTERM); _ = p.cmd.Wait() })
	backend := strings.TrimPrefix(p.base, "http://")

	// nginx, as root without a master process so it needs no user switch.
	dir := t.TempDir()
	ngAddr := freePort(t)
	site := strings.NewReplacer("listen 80;", "listen "+ngAddr+";", "http://127.0.0.1:8080", "http://"+backend).Replace(nginxConf)
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, site)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := exec.Command("/usr/sbin/nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	if out, err := exec.Command("/usr/sbin/nginx", "-t", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ng.Process.Kill(); _ = ng.Wait() })

	// Caddy, with its admin API off and its state in the test's directory.
	cdir := t.TempDir()
	cdAddr := freePort(t)
	cf := "{\n\tadmin off\n}\n" + strings.NewReplacer("atlas11.example.com {", "http://"+cdAddr+" {", "127.0.0.1:8080", backend).Replace(caddyfile)
	if err := os.WriteFile(filepath.Join(cdir, "Caddyfile"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	cd := exec.Command("caddy", "run", "--config", filepath.Join(cdir, "Caddyfile"), "--adapter", "caddyfile")
	cd.Env = append(os.Environ(), "HOME="+cdir, "XDG_DATA_HOME="+cdir, "XDG_CONFIG_HOME="+cdir)
	if err := cd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cd.Process.Kill(); _ = cd.Wait() })

	waitUp(t, "http://"+ngAddr, ng)
	waitUp(t, "http://"+cdAddr, cd)

	if got := seenClient(t, from("127.0.0.5"), p.base, p.logs); got != "127.0.0.5" {
		t.Errorf("direct client 127.0.0.5 forging X-Forwarded-For seen as %s", got)
	}
	if got := seenClient(t, from("127.0.0.7"), "http://"+ngAddr, p.logs); got != "127.0.0.7" {
		t.Errorf("client 127.0.0.7 through nginx seen as %s", got)
	}
	if got := seenClient(t, from("127.0.0.8"), "http://"+cdAddr, p.logs); got != "127.0.0.8" {
		t.Errorf("client 127.0.0.8 through Caddy seen as %s", got)
	}
	t.Run("websocket through nginx", func(t *testing.T) { wsThrough(t, "http://"+ngAddr) })
	t.Run("websocket through caddy", func(t *testing.T) { wsThrough(t, "http://"+cdAddr) })
}
