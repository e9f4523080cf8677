// Package api is the HTTP API of the Atlas11 control plane under /api/v1:
// JSON in and out, one error shape, one kind-to-status table, cookie
// sessions, an OpenAPI 3 document built from the same route table that
// registers the handlers (routes.go).
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"atlas11/control"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Prefix is where the API is served.
const Prefix = "/api/v1"

// SignalingPath is the SFU websocket the call token admits to.
const SignalingPath = Prefix + "/rtc"

// ICEServer is one STUN/TURN server handed to a browser with a call token.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Deps is what New needs. Service is required; everything else is optional.
type Deps struct {
	Service    *control.Service
	Logger     *slog.Logger
	Registerer prometheus.Registerer // request metrics; nil: not exported
	// SimClock is the service's clock when the binary runs with --clock=sim;
	// nil otherwise, and then the sim clock endpoints answer 404.
	SimClock *control.SimClock
	// ICEServers mints TURN credentials for an admitted user.
	ICEServers func(userID string) []ICEServer
	// Backup writes a hot backup of the store (operator download).
	Backup func(w io.Writer) (int64, error)
	// InternalSecret authenticates POST /api/v1/internal/presence (bearer
	// token); empty disables the endpoint.
	InternalSecret string
	SupportEmail   string
	SecureCookies  bool
	// Now is the clock of the sign-in rate limiter; nil: wall clock.
	Now func() time.Time
	// RenderNotice shows an e-mail as its recipient would read it, for the
	// operator's view of the outbox; nil: no preview.
	RenderNotice func(control.Notice) (NoticePreview, error)
	// Calendar writes iCalendar entries in a language (feeds, "add to
	// calendar"); nil: those routes answer 404.
	Calendar func(lang, name string, entries []control.CalendarEntry, now time.Time) []byte
}

// server holds the handlers' dependencies; one per New call, no globals.
type server struct {
	svc     *control.Service
	log     *slog.Logger
	sim     *control.SimClock
	ice     func(string) []ICEServer
	backup  func(io.Writer) (int64, error)
	secret  string
	support string
	secure  bool
	argon   argonParams
	byEmail *limiter
	byIP    *limiter
	// resetByEmail and resetByIP bound password-reset requests.
	resetByEmail, resetByIP *limiter
	dummyHash               func() string // verified against when the email is unknown, to even out timing
	openapi                 []byte
	dec                     decoder
	reqs                    *prometheus.CounterVec
	latency                 *prometheus.HistogramVec
	render                  func(control.Notice) (NoticePreview, error)
	calendar                func(lang, name string, entries []control.CalendarEntry, now time.Time) []byte
}

// New returns the handler serving everything under /api/v1.
func New(deps Deps) (http.Handler, error) {
	s, err := newServer(deps)
	if err != nil {
		return nil, err
	}
	return s.engine(), nil
}

func newServer(deps Deps) (*server, error) {
	if deps.Service == nil {
		return nil, errors.New("api: Deps.Service is required")
	}
	s := &server{svc: deps.Service, log: deps.Logger, sim: deps.SimClock, ice: deps.ICEServers,
		backup: deps.Backup, secret: deps.InternalSecret, support: deps.SupportEmail,
		secure: deps.SecureCookies, argon: defaultArgon(), render: deps.RenderNotice,
		calendar: deps.Calendar}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.support == "" {
		s.support = deps.Service.Settings().SupportEmail
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	// 5 failures per email then one try per minute; an IP gets more room
	// (shared NATs) but the same shape.
	s.byEmail = newLimiter(now, 5, time.Minute)
	s.byIP = newLimiter(now, 20, 10*time.Second)
	s.resetByEmail, s.resetByIP = newResetLimiters(now)
	s.dummyHash = sync.OnceValue(func() string { return hashPassword(s.argon, "atlas11-timing-equalizer") })

	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "atlas11_http_requests_total",
		Help: "HTTP API requests by route template, method and status class.",
	}, []string{"route", "method", "class"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "atlas11_http_request_duration_seconds",
		Help:    "HTTP API request latency by route template and method.",
		Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method"})
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reqs, s.latency} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	doc, err := buildOpenAPI(routes())
	if err != nil {
		return nil, err
	}
	s.openapi = doc
	return s, nil
}

func (s *server) engine() *gin.Engine {
	// gin keeps its mode in a process-wide atomic; setting release mode here,
	// when each engine is built, is idempotent and silences the debug dump.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// ClientIP is the peer address, never a header: the binary (cmd/atlas11)
	// has already replaced the peer by the real client when the peer is a
	// trusted reverse proxy, and removed forwarded headers from anyone else.
	_ = e.SetTrustedProxies(nil)
	e.Use(s.observe, s.recover)
	e.NoRoute(func(c *gin.Context) {
		writeError(c, s.log, apiErr(control.NotFound, "route_not_found", "", "no such API route"))
	})
	e.NoMethod(func(c *gin.Context) {
		writeError(c, s.log, apiErr(kindMethodNotAllowed, "method_not_allowed", "", "method not allowed on this route"))
	})
	g := e.Group(Prefix, s.sameOrigin)
	for _, rt := range routes() {
		g.Handle(rt.Method, rt.Path, s.wrap(rt))
	}
	return e
}

// observe records request metrics with low-cardinality labels.
func (s *server) observe(c *gin.Context) {
	start := time.Now()
	newRequestID(c)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	class := strconv.Itoa(c.Writer.Status()/100) + "xx"
	s.reqs.WithLabelValues(route, c.Request.Method, class).Inc()
	s.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	if info := requestInfoOf(c.Request.Context()); info != nil {
		info.Route = route // the binary writes the access log line
		return
	}
	// Without the binary around (tests), an access log at debug level:
	// client is the address rate limits key on.
	s.log.Debug("request", "request_id", c.GetString(requestIDKey), "client", c.ClientIP(),
		"method", c.Request.Method, "route", route, "status", c.Writer.Status())
}

// recover turns a panic into a logged 500 in the error shape.
func (s *server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic in handler", "route", c.FullPath(), "panic", v)
			if !c.Writer.Written() {
				writeError(c, s.log, control.Errorf(control.Internal, "internal", "internal error"))
			}
		}
	}()
	c.Next()
}

// sameOrigin refuses cross-site state-changing requests (CSRF): the browser
// says where a request comes from in Sec-Fetch-Site, older ones in Origin.
func (s *server) sameOrigin(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	if site := c.GetHeader("Sec-Fetch-Site"); site != "" {
		if site != "same-origin" && site != "none" {
			writeError(c, s.log, apiErr(control.Forbidden, "cross_site", "", "cross-site requests are refused"))
			return
		}
	} else if origin := c.GetHeader("Origin"); origin != "" && !sameHost(origin, c.Request.Host) {
		writeError(c, s.log, apiErr(control.Forbidden, "cross_site", "", "cross-site requests are refused"))
		return
	}
	c.Next()
}

func sameHost(origin, host string) bool {
	for _, scheme := range []string{"http://", "https://"} {
		if len(origin) > len(scheme) && origin[:len(scheme)] == scheme {
			return origin[len(scheme):] == host
		}
	}
	return false
}

// ctx is the request context: cancelled when the client goes away.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }
