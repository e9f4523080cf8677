// Package loadkit holds what the load commands share: they only ever send load
// to loopback, and they can profile themselves, to tell their own cost from the
// server's (the server is profiled from outside, e.g. with perf).
package loadkit

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
)

// LoopbackURL parses a load command's -url: HTTP(S) to a loopback host only.
func LoopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want http://host:port", raw)
	}
	if !loopback(u.Hostname()) {
		return nil, fmt.Errorf("-url %q: load is only sent to loopback addresses", raw)
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StartCPUProfile profiles the calling command into path until stop is
// called; an empty path profiles nothing.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
