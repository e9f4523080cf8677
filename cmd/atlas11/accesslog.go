package main

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"atlas11/control/api"
)

// accessLog names every request of the main listener (X-Request-ID, the
// same ID the API puts in its error bodies and error log) and, when on,
// writes one structured line per request once it is answered: method,
// route template, status, duration, bytes written, the client address
// (already resolved through http.trusted_proxies by forwarded, which runs
// first) and the request ID. The query string and raw API paths are never
// logged: they can hold tokens (a calendar feed's, say).
func accessLog(h http.Handler, log *slog.Logger, on bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &api.RequestInfo{ID: api.NewRequestID()}
		w.Header().Set("X-Request-ID", info.ID)
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(api.WithRequestInfo(r.Context(), info)))
		if !on {
			return
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
			if rec.hijacked {
				status = http.StatusSwitchingProtocols
			}
		}
		log.Info("request", "request_id", info.ID, "client", clientOf(r.RemoteAddr), "method", r.Method,
			"route", routeOf(r, info), "status", status, "bytes", rec.bytes,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// routeOf is the request's path template: the API's route (from the API
// itself), the fixed paths, a shareable profile link, or the path of an
// app file (a bounded, public set; anything else reads "unmatched" only
// inside the API).
func routeOf(r *http.Request, info *api.RequestInfo) string {
	switch p := r.URL.Path; {
	case info.Route != "":
		return info.Route
	case p == api.SignalingPath, p == "/healthz", p == "/readyz":
		return p
	case strings.HasPrefix(p, api.Prefix+"/"):
		return api.Prefix + "/*"
	case strings.HasPrefix(p, "/e/"):
		return "/e/{slug}"
	case len(p) > 128:
		return p[:128] + "…"
	default:
		return p
	}
}

func clientOf(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// recorder notes the status and the bytes of an answer. It keeps the
// connection reachable (Unwrap for http.ResponseController, Hijack for the
// signaling WebSocket, Flush for streams).
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, rw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
