package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// newHTTPServer is the main listener's server with every deadline set: a
// slow body, an idle keep-alive connection or a client that never reads its
// answer is cut, so none can hold a goroutine and its buffers for ever.
func newHTTPServer(c HTTPConfig, h http.Handler, log *slog.Logger) *http.Server {
	header := 10 * time.Second
	if c.ReadTimeout < header {
		header = c.ReadTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: header,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// needProgress replaces the whole-response deadline of a download that may
// take minutes (the backup) by a progress rule: each write must finish
// within progress, else the connection is cut and the handler returns.
func needProgress(h http.Handler, progress time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(progress))
		h.ServeHTTP(&progressWriter{ResponseWriter: w, rc: rc, every: progress}, r)
	})
}

// progressWriter gives each write its own deadline.
type progressWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	every time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(p.every))
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// perIPListener caps the connections one client address holds open: the
// excess is closed as soon as it is accepted. Addresses for which exempt is
// true (trusted reverse proxies, which carry everyone) have no cap.
type perIPListener struct {
	net.Listener
	max    int
	exempt func(net.IP) bool
	log    *slog.Logger

	mu sync.Mutex
	n  map[string]int
}

func limitPerIP(ln net.Listener, max int, exempt func(net.IP) bool, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	return &perIPListener{Listener: ln, max: max, exempt: exempt, log: log, n: map[string]int{}}
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(c.RemoteAddr().String())
		if err != nil {
			return c, nil
		}
		ip := net.ParseIP(host)
		if ip != nil && l.exempt != nil && l.exempt(ip) {
			return c, nil
		}
		// One IPv6 subscriber usually holds a whole /64: count it as one
		// address, as the API's rate limits do.
		if ip != nil && ip.To4() == nil {
			host = ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		l.mu.Lock()
		if l.n[host] >= l.max {
			l.mu.Unlock()
			_ = c.Close()
			l.log.Warn("connection refused: too many from one address", "client", host, "max", l.max)
			continue
		}
		l.n[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perIPListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[host]--; l.n[host] <= 0 {
		delete(l.n, host)
	}
}

// countedConn gives its slot back once, on the first Close (the server's,
// or the WebSocket's after a hijack).
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// errShutdownTimeout reports a shutdown that did not finish in time.
var errShutdownTimeout = errors.New("shutdown did not finish within http.shutdown_timeout; exiting anyway")

// shutdown drains the server within the deadline, then cuts whatever still
// runs (a slow backup reader holds a read transaction, and the store cannot
// close under it), then closes the platform. Past the deadline it gives up
// waiting: the store is crash-safe, a shutdown must not hang.
func shutdown(srv *http.Server, closePlatform func(), timeout time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown: connections still open at the deadline, closing them", "err", err)
		_ = srv.Close()
	}
	done := make(chan struct{})
	go func() { defer close(done); closePlatform() }()
	// Cutting connections makes their handlers return at once; give the
	// platform a short grace past the deadline to close the store cleanly.
	grace := time.Until(deadline)
	if grace < time.Second {
		grace = time.Second
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		return errShutdownTimeout
	}
}
