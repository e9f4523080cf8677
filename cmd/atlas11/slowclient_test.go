package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// slowConfig gives the spawned binary short deadlines so the test is fast;
// the defaults are in configs/atlas11.example.yaml.
const slowConfig = testConfig + `
http:
  read_timeout: 1s
  write_timeout: 1s
  idle_timeout: 1s
  max_conns_per_ip: 4
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// dialSmall connects with a tiny receive buffer, as a client that reads
// nothing would end up with.
func dialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWithin reports whether the server ends c (EOF or reset) within d,
// draining whatever it sent; it returns the bytes read.
func closedWithin(c net.Conn, d time.Duration) (bool, int64) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, n
	}
	return true, n
}

// Raw TCP clients that hold the server's resources the way attackers do:
// each is cut by a deadline of the real binary, and one address cannot
// open more than max_conns_per_ip connections.
func TestSlowClients_DeadlinesAndPerIPCap(t *testing.T) {
	bin := buildBinary(t)
	p := spawn(t, bin, filepath.Join(t.TempDir(), "data"), "--config", writeConfig(t, slowConfig))
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGTERM); _ = p.cmd.Wait() })
	addr := strings.TrimPrefix(p.base, "http://")

	// First, while no other test connection is open or closing.
	t.Run("per-address cap closes the excess at once", func(t *testing.T) {
		var held []net.Conn
		for range 4 {
			c := dialSmall(t, addr)
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Fatalf("connection within the cap: %v", err)
			}
			held = append(held, c)
		}
		extra := dialSmall(t, addr)
		if ok, _ := closedWithin(extra, 500*time.Millisecond); !ok {
			t.Fatal("a fifth connection from one address stayed open (max_conns_per_ip is 4)")
		}
		// A slot freed is a slot usable again; the server releases a closed
		// connection's slot when it notices the close.
		_ = held[0].Close()
		time.Sleep(100 * time.Millisecond)
		c := dialSmall(t, addr)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after one closed, a new connection: %v", err)
		}
		for _, h := range append(held, c, extra) {
			_ = h.Close()
		}
		waitSlots(t, addr, 4)
	})
	// The signaling WebSocket outlives read_timeout and write_timeout: a
	// call lasts an hour, not a second. It waits 2.5 s (past both), then
	// still talks: a join with a bad token is answered with a refusal.
	t.Run("the signaling WebSocket is not cut by the request deadlines", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/api/v1/rtc", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		time.Sleep(2500 * time.Millisecond)
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","token":"not-a-token"}`)); err != nil {
			t.Fatalf("write after 2.5s: %v", err)
		}
		_, msg, err := ws.Read(ctx)
		if err != nil || !strings.Contains(string(msg), "token") {
			t.Fatalf("read after 2.5s: %q %v", msg, err)
		}
	})

	t.Run("slow body is cut after read_timeout", func(t *testing.T) {
		c := dialSmall(t, addr)
		fmt.Fprintf(c, "POST /api/v1/auth/signin HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", addr)
		start := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() { // one byte every 100 ms: never idle, never done
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		if ok, _ := closedWithin(c, 4*time.Second); !ok {
			t.Fatal("a body trickled byte by byte held the connection past 4s (read_timeout is 1s)")
		}
		// Not earlier than the deadline: the cap did not refuse this one.
		if el := time.Since(start); el < 900*time.Millisecond {
			t.Fatalf("closed after %v, before read_timeout: refused rather than timed out", el)
		}
		t.Logf("slow body cut after %v", time.Since(start).Round(10*time.Millisecond))
	})

	t.Run("idle keep-alive is closed after idle_timeout", func(t *testing.T) {
		c := dialSmall(t, addr)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		start := time.Now()
		if ok, _ := closedWithin(c, 4*time.Second); !ok {
			t.Fatal("an idle keep-alive connection stayed open past 4s (idle_timeout is 1s)")
		}
		t.Logf("idle connection closed after %v", time.Since(start).Round(10*time.Millisecond))
	})

	t.Run("a client that never reads is cut after write_timeout", func(t *testing.T) {
		c := dialSmall(t, addr)
		// Pipelined requests for the OpenAPI document: far more answer than
		// socket buffers hold, and the client reads none of it.
		const n = 2000
		req := fmt.Sprintf("GET /api/v1/openapi.json HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		go func() { _, _ = io.WriteString(c, strings.Repeat(req, n)) }()
		time.Sleep(2500 * time.Millisecond) // write_timeout is 1s: the server must give up meanwhile
		start := time.Now()
		ok, got := closedWithin(c, 3*time.Second)
		if !ok {
			t.Fatalf("the server kept writing to a client that reads nothing (%d bytes drained, still open)", got)
		}
		size := openAPISize(t, p.base)
		if got >= int64(n)*size {
			t.Fatalf("all %d answers were delivered (%d bytes): the test did not stall the server", n, got)
		}
		t.Logf("stalled reader cut: the client drained %d of %d answer bytes; closed %v after the stall", got, int64(n)*size, time.Since(start).Round(10*time.Millisecond))
	})

}

// waitSlots waits until n connections from this address are accepted again.
func waitSlots(t *testing.T, addr string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		var conns []net.Conn
		ok := true
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				ok = false
			}
		}
		for _, c := range conns {
			_ = c.Close()
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("closed connections never gave their slots back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openAPISize(t *testing.T, base string) int64 {
	t.Helper()
	_, body := get(t, base+"/api/v1/openapi.json")
	return int64(len(body))
}
