package certs

import (
	"net"
	"net/http"
	"strings"
)

// HSTSValue keeps browsers on HTTPS for two years, subdomains included.
const HSTSValue = "max-age=63072000; includeSubDomains"

// HSTS adds Strict-Transport-Security to every response. Use it only on a
// listener that really is HTTPS: a browser remembers the header.
func HSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTSValue)
		next.ServeHTTP(w, r)
	})
}

// Redirect answers every plain-HTTP request with a redirect to the same
// host and path over HTTPS; httpsPort is the HTTPS listener's port, left out
// of the URL when it is 443. GET and HEAD get 301 (cached by browsers), other
// methods 308 so a client replays the same method and body.
func Redirect(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			http.Error(w, "this server answers HTTPS only", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if httpsPort != "" && httpsPort != "443" {
			host = net.JoinHostPort(strings.Trim(host, "[]"), httpsPort)
		}
		code := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code = http.StatusPermanentRedirect
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}
