package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// trustedNets are the reverse proxies whose forwarded headers are believed
// (http.trusted_proxies).
type trustedNets []*net.IPNet

// parseTrusted reads CIDRs or bare addresses.
func parseTrusted(list []string) (trustedNets, error) {
	var out trustedNets
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("config: http.trusted_proxies: %q is neither an address nor a CIDR", s)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("config: http.trusted_proxies: %q is neither an address nor a CIDR", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (t trustedNets) contains(ip net.IP) bool {
	for _, n := range t {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedHeaders are what a proxy says about the client; anyone can send
// them, so they count only from a trusted peer.
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "Forwarded"}

// forwarded sets the request's RemoteAddr to the real client address before
// anything reads it (API rate limits, logs, the media server): from a
// trusted proxy, the rightmost X-Forwarded-For hop that is not itself a
// trusted proxy (hops to its left were written by the client and prove
// nothing); from anyone else, the TCP peer, with every forwarded header
// removed so nothing downstream can be fooled by one. X-Forwarded-Proto
// (http or https) is kept only from a trusted proxy.
func forwarded(h http.Handler, trusted trustedNets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := remoteIP(r.RemoteAddr)
		if peer == nil || !trusted.contains(peer) {
			for _, k := range forwardedHeaders {
				r.Header.Del(k)
			}
			h.ServeHTTP(w, r)
			return
		}
		client := peer
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			ip := net.ParseIP(strings.TrimSpace(hops[i]))
			if ip == nil {
				break
			}
			client = ip
			if !trusted.contains(ip) {
				break
			}
		}
		proto := strings.ToLower(r.Header.Get("X-Forwarded-Proto"))
		for _, k := range forwardedHeaders {
			r.Header.Del(k)
		}
		if proto == "http" || proto == "https" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		r2 := *r
		r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
		h.ServeHTTP(w, &r2)
	})
}

func remoteIP(addr string) net.IP {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.ParseIP(host)
}
