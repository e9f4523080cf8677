package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"atlas11/control"
	"atlas11/control/api"
	"atlas11/control/bolt"
	"atlas11/sfu"
	"atlas11/turn"
	"atlas11/web"
)

// usageError marks a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `Usage: atlas11 [command] [flags]

Commands:
  serve              run the platform (the default)
  operator create    create an operator account (the server must be stopped)
  backup             write a consistent copy of the database: --url for a hot backup
                     of a running server (as an operator), else from a stopped one
  config check       validate a config file and print the effective config
  version            print the version, VCS revision and Go version
  help               show this help

Flags (serve, config check):
`

// run is the whole program; main only supplies the process's environment,
// so tests can run it in-process on port 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig("serve", args, getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return usageError{"usage: atlas11 config check [--config FILE]"}
		}
		cfg, err := loadConfig("config check", args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "config OK")
		return writeYAML(stdout, redacted(cfg))
	case "operator":
		if len(args) == 0 || args[0] != "create" {
			return usageError{"usage: atlas11 operator create --email E --name N [--password-stdin]"}
		}
		return operatorCreate(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "backup":
		return backupCmd(ctx, args, getenv, stdout, stderr)
	case "version":
		return versionCmd(args, stdout)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		fs, _ := configFlags("serve", &Config{}, io.Discard)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q (try atlas11 help)", cmd)}
	}
}

type configFlagValues struct {
	file, addr, data, clock string
}

func configFlags(name string, _ *Config, stderr io.Writer) (*flag.FlagSet, *configFlagValues) {
	v := &configFlagValues{}
	fs := flag.NewFlagSet("atlas11 "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&v.file, "config", "", "YAML config file (see configs/atlas11.example.yaml); env ATLAS11_CONFIG")
	fs.StringVar(&v.addr, "addr", "", "HTTP listen address, e.g. 127.0.0.1:8080 (port 0 picks a free port)")
	fs.StringVar(&v.data, "data", "", "data directory holding atlas11.db")
	fs.StringVar(&v.clock, "clock", "", `"system" or "sim" (simulation clock that operators move through the API)`)
	return fs, v
}

// loadConfig builds the config: defaults, file, environment, flags, validation.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs, v := configFlags(name, &cfg, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	file := v.file
	if file == "" {
		file = getenv("ATLAS11_CONFIG")
	}
	if file != "" {
		if err := cfg.LoadConfigFile(file); err != nil {
			return cfg, err
		}
	}
	if err := cfg.LoadEnv(getenv); err != nil {
		return cfg, err
	}
	if v.addr != "" {
		cfg.HTTP.Addr = v.addr
	}
	if v.data != "" {
		cfg.DataDir = v.data
	}
	if v.clock != "" {
		cfg.Clock = v.clock
	}
	return cfg, cfg.Validate()
}

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// platform is the wired process: the store, the domain and everything that
// serves it. serve and the tests build it through newPlatform.
type platform struct {
	cfg     Config
	log     *slog.Logger
	db      *bolt.DB
	svc     *control.Service
	sim     *control.SimClock
	reg     *prometheus.Registry
	media   *sfu.Server
	relay   *turn.Server // nil when turn.enabled is false
	certs   *certSources
	handler http.Handler
	trusted trustedNets // http.trusted_proxies
	// health answers /healthz and /readyz; a drain sets health.Draining.
	health  *health
	closers []func() error
}

// newPlatform opens the store and the domain; with media it also starts the
// SFU, the TURN relay and the HTTP handlers, which CLI commands do not need.
func newPlatform(cfg Config, stderr io.Writer, media bool) (*platform, error) {
	p := &platform{cfg: cfg, log: newLogger(cfg.Log, stderr)}
	secrets, err := loadSecrets(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Secrets.CallToken != "" {
		secrets.CallToken = cfg.Secrets.CallToken
	}
	if cfg.Secrets.Internal != "" {
		secrets.Internal = cfg.Secrets.Internal
	}
	db, err := bolt.Open(cfg.DBPath(), bolt.Options{Timeout: 2 * time.Second})
	switch {
	case errors.Is(err, bolt.ErrLocked):
		return nil, fmt.Errorf("%w (is another atlas11 using %s?)", err, cfg.DataDir)
	case errors.Is(err, bolt.ErrCorrupt):
		return nil, fmt.Errorf("%w; refusing to start: restore it from a backup, or move it away to start an empty database", err)
	case err != nil:
		return nil, err
	}
	p.db = db
	p.closers = append(p.closers, db.Close)

	var clock control.Clock = control.SystemClock{}
	if cfg.Clock == "sim" {
		start := time.Now().UTC().Truncate(time.Second)
		stored, ok, err := control.StoredSimClock(db)
		if err != nil {
			p.close()
			return nil, err
		}
		if ok { // resume the demo where it was
			start = stored
		}
		p.sim = control.NewSimClock(start)
		clock = p.sim
	}
	mailer, renderer, err := cfg.mailer()
	if err != nil {
		p.close()
		return nil, err
	}
	svc, err := control.NewService(control.Config{
		Mailer:     mailer,
		Store:      db,
		Gateway:    control.NewSandboxGateway(),
		Clock:      clock,
		Settings:   cfg.Rules,
		CallSecret: []byte(secrets.CallToken),
		Logger:     p.log.With("component", "control"),
	})
	if err != nil {
		p.close()
		return nil, err
	}
	p.svc = svc
	if p.sim != nil {
		p.sim.PersistTo(svc.SaveSimClock)
	}
	if !media {
		return p, nil
	}

	p.reg = prometheus.NewRegistry()
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(p.reg)

	// Presence is drained after the media server stops (closers run in
	// reverse), so the last leaves reach the store.
	presence := newPresenceRecorder(svc, p.log.With("component", "presence"))
	p.closers = append(p.closers, presence.Close)
	p.media, err = sfu.New(cfg.SFU.toSFU(), sfu.Deps{
		Admitter:   admitter{svc: svc},
		Presence:   presence,
		Now:        clock.Now,
		Logger:     p.log.With("component", "sfu"),
		Registerer: p.reg,
	})
	if err != nil {
		p.close()
		return nil, err
	}
	p.closers = append(p.closers, p.media.Close)
	if p.certs, err = newCertSources(cfg, p.log); err != nil {
		p.close()
		return nil, err
	}
	if p.certs.acme != nil {
		p.closers = append(p.closers, p.certs.acme.Close)
	}
	if cfg.TURN.Enabled {
		// The relay may reach the SFU's bound ports on its addresses, and no
		// other port there (the HTTP API, /metrics, other local services).
		var ports mediaPorts
		if a, ok := p.media.UDPAddr().(*net.UDPAddr); ok {
			ports.udp = a.Port
		}
		if a, ok := p.media.TCPAddr().(*net.TCPAddr); ok {
			ports.tcp = a.Port
		}
		tc := cfg.TURN.toTURN(secrets.TURN, cfg.SFU.mediaIPs(), ports)
		if p.certs.turn != nil {
			tc.GetCertificate = p.certs.turn.GetCertificate
			if tc.PublicHost == "" && len(cfg.TLS.Domains) > 0 {
				tc.PublicHost = cfg.TLS.Domains[0] // turns: URLs must match the certificate
			}
		}
		// TURN credentials follow the wall clock: browsers and the relay's own
		// allocation timers live in real time, even in a simulation.
		p.relay, err = turn.New(tc, turn.Deps{
			Logger:     p.log,
			Registerer: p.reg,
			Now:        time.Now,
		})
		if err != nil {
			p.close()
			return nil, fmt.Errorf("turn: %w", err)
		}
		p.closers = append(p.closers, p.relay.Close)
	}

	apiHandler, err := api.New(api.Deps{
		Service:        svc,
		Logger:         p.log.With("component", "api"),
		Registerer:     p.reg,
		SimClock:       p.sim,
		ICEServers:     p.iceServers,
		Backup:         db.Backup,
		InternalSecret: secrets.Internal,
		SupportEmail:   cfg.Rules.SupportEmail,
		SecureCookies:  cfg.HTTP.SecureCookies || cfg.TLS.On(),
		Calendar:       renderer.Calendar,
		RenderNotice: func(n control.Notice) (api.NoticePreview, error) {
			m, err := renderer.Render(n)
			return api.NoticePreview{Subject: m.Subject, Text: m.Text, HTML: m.HTML}, err
		},
	})
	if err != nil {
		p.close()
		return nil, err
	}

	mux := http.NewServeMux()
	// The signaling WebSocket outlives the request deadlines: net/http clears
	// them when the connection is hijacked (TestSlowClients checks it); the
	// session's liveness is the media server's (join timeout, bounded writes).
	mux.Handle(api.SignalingPath, p.media.Handler())
	mux.Handle(api.Prefix+"/", apiHandler)
	mux.Handle(api.Prefix+"/operator/backup", needProgress(apiHandler, cfg.HTTP.WriteTimeout))
	p.health = newHealth(db.Probe, db.LastStorageFailure, p.log.With("component", "health"))
	mux.HandleFunc("/healthz", p.health.healthz)
	mux.HandleFunc("/readyz", p.health.readyz)
	mux.Handle("/", web.Handler())
	p.trusted, _ = parseTrusted(cfg.HTTP.TrustedProxies) // validated with the config
	// Security headers (CSP, frame and sniffing protection, Permissions-
	// Policy) on every answer of this listener, whatever route answers.
	// The access log runs after forwarded, so it names the real client.
	p.handler = web.SecurityHeaders(forwarded(accessLog(mux, p.log.With("component", "access"), cfg.Log.Access), p.trusted))
	return p, nil
}

func (p *platform) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i](); err != nil {
			p.log.Error("close", "err", err)
		}
	}
	p.closers = nil
}

// runDue drives the domain's background work (settlement, auto-cancel,
// claim windows, payouts) from the clock. The work itself lives in the
// store, so a restart resumes it and a repeat does nothing twice.
func (p *platform) runDue(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := p.svc.RunDue(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("background work", "err", err)
		} else if n > 0 {
			p.log.Debug("background work", "jobs", n)
		}
		if p.health != nil {
			p.health.dueTicked()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serve listens synchronously, serves asynchronously and drains on shutdown:
// the first signal drains, a second forces the exit.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	p, err := newPlatform(cfg, stderr, true)
	if err != nil {
		return err
	}
	closed := false // the shutdown closes p within its deadline
	defer func() {
		if !closed {
			p.close()
		}
	}()

	if err := p.listenAdmin(stdout); err != nil {
		return err
	}
	srv := newHTTPServer(cfg.HTTP, p.handler, p.log)
	ln, scheme, err := p.listenMain(srv, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "http: listening on %s://%s\n", scheme, ln.Addr())
	p.log.Info("atlas11 started", "addr", ln.Addr().String(), "data", cfg.DataDir, "clock", cfg.Clock)

	bgCtx, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); p.runDue(bgCtx, time.Second) }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		stopBG()
		<-bgDone
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	p.log.Info("shutting down")
	closed = true
	return shutdown(srv, func() { stopBG(); <-bgDone; p.close() }, cfg.HTTP.ShutdownTimeout, p.log)
}
