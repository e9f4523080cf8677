package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"atlas11/cmd/internal/loadkit"
)

type config struct {
	URL          string
	N            int
	Concurrency  int
	Rate         float64
	Duration     time.Duration
	Experts      int
	Clients      int
	SetupTimeout time.Duration
	CPUProfile   string
}

func (c config) validate() error {
	u, err := loadkit.LoopbackURL(c.URL)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("-url %q: want plain HTTP (this client speaks HTTP/1.1 itself)", c.URL)
	}
	switch {
	case c.N < 1 || c.N > 1_000_000:
		return errors.New("-n must be between 1 and 1000000")
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return errors.New("-c must be between 1 and 4096")
	case c.Rate < 0 || c.Rate > 100_000:
		return errors.New("-rate must be between 0 and 100000")
	case c.Duration <= 0 || c.Duration > time.Hour:
		return errors.New("-duration must be positive and at most 1h")
	case c.Experts < 1 || c.Experts > 1000 || c.Clients < 1 || c.Clients > 10000:
		return errors.New("-experts must be 1..1000 and -clients 1..10000")
	case c.SetupTimeout <= 0:
		return errors.New("-setup-timeout must be positive")
	}
	return nil
}

// account is one signed-in user: its session cookie.
type account struct {
	id     string
	cookie string
}

// client is the setup phase's HTTP client (net/http, not measured).
type client struct {
	base string // http://host:port
	host string // host:port as written in the URL
	addr string // host:port to dial
	hc   *http.Client
}

func newClient(cfg config) (*client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &client{base: strings.TrimRight(cfg.URL, "/"), host: u.Host, addr: addr,
		hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// call sends one JSON request and returns status and body.
func (c *client) call(ctx context.Context, method, path string, who *account, body any, hdr ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != nil {
		req.Header.Set("Cookie", who.cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return res.StatusCode, nil, err
	}
	if res.StatusCode == http.StatusCreated && strings.HasSuffix(path, "/signup") {
		for _, ck := range res.Cookies() {
			if ck.Name == "atlas11_session" || ck.Name == "__Host-atlas11_session" { // plain HTTP or HTTPS
				return res.StatusCode, append([]byte(ck.Name+"="+ck.Value+"\n"), b...), nil
			}
		}
	}
	return res.StatusCode, b, nil
}

func (c *client) signUp(ctx context.Context, email, role string) (*account, error) {
	st, b, err := c.call(ctx, "POST", "/auth/signup", nil, map[string]any{"email": email,
		"password": "violet tide lamp 9", "name": "Load " + role, "role": role, "time_zone": "Europe/Paris"})
	if err != nil {
		return nil, err
	}
	if st != http.StatusCreated {
		return nil, fmt.Errorf("sign-up %s: %d %s", email, st, b)
	}
	cookie, rest, _ := bytes.Cut(b, []byte("\n"))
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(rest, &me); err != nil || !bytes.Contains(cookie, []byte("atlas11_session=")) {
		return nil, fmt.Errorf("sign-up %s: no session: %s", email, b)
	}
	return &account{id: me.User.ID, cookie: string(cookie)}, nil
}

// parallel runs fn(i) for i in [0, n) on at most c goroutines, stopping at
// the first error.
func parallel(ctx context.Context, n, c int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, c) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

type slotRef struct {
	id string
}

// setup signs up experts and clients and publishes one slot per booking.
func setup(ctx context.Context, c *client, cfg config, log io.Writer) ([]*account, []slotRef, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])
	workers := min(cfg.Concurrency, 32)

	experts := make([]*account, cfg.Experts)
	clients := make([]*account, cfg.Clients)
	start := time.Now()
	err := parallel(ctx, cfg.Experts+cfg.Clients, workers, func(ctx context.Context, i int) error {
		var err error
		if i < cfg.Experts {
			experts[i], err = c.signUp(ctx, fmt.Sprintf("load-%s-expert-%d@atlas11.test", run, i), "expert")
		} else {
			clients[i-cfg.Experts], err = c.signUp(ctx, fmt.Sprintf("load-%s-client-%d@atlas11.test", run, i-cfg.Experts), "client")
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("setup accounts: %w", err)
	}
	fmt.Fprintf(log, "setup: %d experts and %d clients signed up in %v\n", cfg.Experts, cfg.Clients, time.Since(start).Round(time.Millisecond))

	// Slots a week ahead, 30 minutes each, back to back per expert; the run
	// ID shifts them so that repeated runs on one server never collide.
	base := time.Now().UTC().Add(7 * 24 * time.Hour).Truncate(time.Hour).Add(time.Duration(rb[0]) * time.Minute)
	slots := make([]slotRef, cfg.N)
	start = time.Now()
	err = parallel(ctx, cfg.N, workers, func(ctx context.Context, i int) error {
		ex := experts[i%len(experts)]
		at := base.Add(time.Duration(i/len(experts)) * 30 * time.Minute)
		st, b, err := c.call(ctx, "POST", "/me/slots", ex, map[string]any{"start": at, "minutes": 30,
			"price_cents": 2500, "media": []string{"video"}})
		if err != nil {
			return err
		}
		if st != http.StatusCreated {
			return fmt.Errorf("add slot: %d %s", st, b)
		}
		var s struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		slots[i] = slotRef{id: s.ID}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("setup slots: %w", err)
	}
	fmt.Fprintf(log, "setup: %d slots published in %v\n", cfg.N, time.Since(start).Round(time.Millisecond))
	return clients, slots, nil
}

// result is what a run measured.
type result struct {
	Mode        string         `json:"mode"`
	Attempted   int            `json:"attempted"`
	Succeeded   int            `json:"succeeded"`
	Errors      int            `json:"errors"`
	ByStatus    map[string]int `json:"by_status"`
	Seconds     float64        `json:"seconds"`
	BookingsPS  float64        `json:"bookings_per_s"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	Maxms       float64        `json:"max_ms"`
	Concurrency int            `json:"concurrency"`
	Rate        float64        `json:"rate"`
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "mode=%s attempted=%d ok=%d errors=%d in %.2fs\n", r.Mode, r.Attempted, r.Succeeded, r.Errors, r.Seconds)
	fmt.Fprintf(w, "bookings/s=%.0f p50=%.2fms p99=%.2fms max=%.2fms\n", r.BookingsPS, r.P50ms, r.P99ms, r.Maxms)
	keys := make([]string, 0, len(r.ByStatus))
	for k := range r.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %d\n", k, r.ByStatus[k])
	}
	b, _ := json.Marshal(r)
	fmt.Fprintln(w, string(b))
}

// booker sends the measured booking requests.
type booker struct {
	tpl     bookTemplate
	addr    string
	conns   *conns
	clients []*account
	slots   []slotRef
	run     string // idempotency keys are run-i: distinct across runs
}

// book sends booking i on *cp, dialing again if the previous answer closed
// the connection; latency runs from scheduled.
func (b *booker) book(ctx context.Context, cp **wireConn, i int, scheduled time.Time) sample {
	c := *cp
	if c == nil {
		var err error
		if c, err = b.conns.dial(ctx, b.addr); err != nil {
			return sample{time.Since(scheduled), "transport_error"}
		}
		*cp = c
	}
	c.buf = b.tpl.appendRequest(c.buf[:0], b.clients[i%len(b.clients)].cookie, b.run, i, b.slots[i].id)
	st, body, keep, err := c.roundTrip()
	lat := time.Since(scheduled)
	if err != nil || !keep {
		b.conns.drop(c)
		*cp = nil
	}
	switch {
	case err != nil:
		return sample{lat, "transport_error"}
	case st == http.StatusCreated:
		return sample{lat, "201"}
	}
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &eb)
	return sample{lat, fmt.Sprintf("%d %s", st, eb.Error.Code)}
}

type sample struct {
	lat    time.Duration
	status string // "201" or "409 slot_taken" or "error"
}

func load(ctx context.Context, cfg config, log io.Writer) (result, error) {
	c, err := newClient(cfg)
	if err != nil {
		return result{}, err
	}
	defer c.hc.CloseIdleConnections()
	clients, slots, err := setup(ctx, c, cfg, log)
	if err != nil {
		return result{}, err
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	bk := &booker{tpl: newBookTemplate(c.host), addr: c.addr, conns: newConns(), clients: clients, slots: slots,
		run: hex.EncodeToString(rb[:])}

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	// The end of the run closes every connection, unblocking any worker in
	// a read; bk.conns refuses new ones from then on.
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		bk.conns.closeAll()
		close(stopped)
	}()
	defer func() { cancel(); <-stopped }()

	// Connections are opened before the clock starts, as a keep-alive pool
	// would hold them.
	workers := min(cfg.Concurrency, cfg.N)
	wc := make([]*wireConn, workers)
	for w := range wc {
		if wc[w], err = bk.conns.dial(ctx, bk.addr); err != nil {
			return result{}, fmt.Errorf("connect: %w", err)
		}
	}
	samples := make([]sample, cfg.N)
	start := time.Now()
	mode := "closed-loop"
	if cfg.Rate > 0 {
		mode = "open-loop"
		// Request i is due at start + i/rate whatever happened before; worker
		// w sends requests w, w+c, w+2c... on its own connection, so at most c
		// are in flight, and a request whose worker is still busy waits and
		// that wait counts in its latency.
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				timer := time.NewTimer(time.Hour)
				defer timer.Stop()
				for i := w; i < cfg.N; i += workers {
					at := start.Add(time.Duration(i) * interval)
					if d := time.Until(at); d > 0 {
						timer.Reset(d)
						select {
						case <-timer.C:
						case <-ctx.Done():
							return
						}
					}
					if ctx.Err() != nil {
						return
					}
					samples[i] = bk.book(ctx, &wc[w], i, at)
				}
			})
		}
		wg.Wait()
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= cfg.N {
						return
					}
					samples[i] = bk.book(ctx, &wc[w], i, time.Now())
				}
			})
		}
		wg.Wait()
	}
	elapsed := time.Since(start)

	res := result{Mode: mode, ByStatus: map[string]int{}, Seconds: elapsed.Seconds(), Concurrency: cfg.Concurrency, Rate: cfg.Rate}
	var lats []time.Duration
	for _, s := range samples {
		if s.status == "" {
			continue // never sent: the duration bound was reached
		}
		res.Attempted++
		res.ByStatus[s.status]++
		if s.status == "201" {
			res.Succeeded++
			lats = append(lats, s.lat)
		} else {
			res.Errors++
		}
	}
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))]) / float64(time.Millisecond)
	}
	res.P50ms, res.P99ms = pct(0.50), pct(0.99)
	if len(lats) > 0 {
		res.Maxms = float64(lats[len(lats)-1]) / float64(time.Millisecond)
	}
	res.BookingsPS = float64(res.Succeeded) / elapsed.Seconds()
	return res, nil
}
