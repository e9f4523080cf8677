package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// defaultAdminAddr is on loopback whatever http.addr says: metrics and
// profiles reveal the process and cost CPU, so they are never public unless
// an operator sets admin_addr to a public address on purpose.
const defaultAdminAddr = "127.0.0.1:9464"

// adminHandler serves the operator surface: Prometheus metrics and the Go
// profiler. It is never mounted on the main listener.
func (p *platform) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{Registry: p.reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// listenAdmin starts the admin listener unless admin_addr is empty; it is
// closed with the platform.
func (p *platform) listenAdmin(stdout io.Writer) error {
	addr := p.cfg.AdminAddr
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	srv := newHTTPServer(p.cfg.HTTP, p.adminHandler(), p.log)
	// A CPU profile or trace streams for as long as asked (?seconds=).
	srv.WriteTimeout = 0
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("admin listener stopped", "err", err)
		}
	}()
	p.closers = append(p.closers, srv.Close)
	fmt.Fprintf(stdout, "admin: listening on http://%s\n", ln.Addr())
	return nil
}
