package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Which address the server believes, hop by hop.
func TestForwarded_BelievesOnlyTrustedHops(t *testing.T) {
	trusted, err := parseTrusted([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ peer, xff, proto, want, wantProto string }{
		{"198.51.100.7:5000", "203.0.113.9", "https", "198.51.100.7", ""},          // untrusted peer: headers dropped
		{"127.0.0.1:5000", "203.0.113.9", "https", "203.0.113.9", "https"},         // one trusted proxy
		{"10.0.0.1:5000", "6.6.6.6, 203.0.113.9, 10.0.0.2", "", "203.0.113.9", ""}, // chain: the left hop is the client's word
		{"10.0.0.1:5000", "", "gopher", "10.0.0.1", ""},                            // nothing forwarded, bad proto dropped
		{"10.0.0.1:5000", "not-an-ip", "", "10.0.0.1", ""},
	}
	for _, c := range cases {
		var got, proto string
		h := forwarded(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, proto = remoteIP(r.RemoteAddr).String(), r.Header.Get("X-Forwarded-Proto")
			if r.Header.Get("X-Forwarded-For") != "" {
				t.Errorf("X-Forwarded-For reached the handler")
			}
		}), trusted)
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != c.want || proto != c.wantProto {
			t.Errorf("peer %s xff %q: client %s proto %q, want %s %q", c.peer, c.xff, got, proto, c.want, c.wantProto)
		}
	}
	if _, err := parseTrusted([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

// A trusted proxy carries everyone's connections: the per-address cap does
// not apply to it.
func TestPerIPCap_ExemptsTrustedProxies(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := parseTrusted([]string{"127.0.0.1"})
	ln := limitPerIP(raw, 1, trusted.contains, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = c.Write([]byte("x")) }()
		}
	}()
	for i := range 5 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatalf("connection %d from a trusted proxy refused: %v", i, err)
		}
	}
}

// Two addresses of one IPv6 /64 share the cap.
func TestPerIPCap_IPv6CountsBySlash64(t *testing.T) {
	raw, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	ln := limitPerIP(raw, 1, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).(*perIPListener)
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c1, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	<-accepted
	ln.mu.Lock()
	keys := len(ln.n)
	_, ok := ln.n["::/64"]
	ln.mu.Unlock()
	if keys != 1 || !ok {
		t.Fatalf("::1 counted as %v, want under ::/64", ln.n)
	}
}
