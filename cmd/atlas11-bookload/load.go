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
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want http://host:port", c.URL)
	}
	if !loopback(u.Hostname()) {
		return fmt.Errorf("-url %q: load is only sent to loopback addresses", c.URL)
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

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// account is one signed-in user: its session cookie.
type account struct {
	id     string
	cookie string
}

type client struct {
	base string
	hc   *http.Client
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
			if ck.Name == "atlas11_session" {
				return res.StatusCode, append([]byte(ck.Name+"="+ck.Value+"\n"), b...), nil
			}
		}
	}
	return res.StatusCode, b, nil
}

func (c *client) signUp(ctx context.Context, email, role string) (*account, error) {
	st, b, err := c.call(ctx, "POST", "/auth/signup", nil, map[string]any{"email": email,
		"password": "bookload-password", "name": "Load " + role, "role": role, "time_zone": "Europe/Paris"})
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
	if err := json.Unmarshal(rest, &me); err != nil || !bytes.HasPrefix(cookie, []byte("atlas11_session=")) {
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

type sample struct {
	lat    time.Duration
	status string // "201" or "409 slot_taken" or "error"
}

func load(ctx context.Context, cfg config, log io.Writer) (result, error) {
	tr := &http.Transport{MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2,
		IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	c := &client{base: strings.TrimRight(cfg.URL, "/"), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	clients, slots, err := setup(ctx, c, cfg, log)
	if err != nil {
		return result{}, err
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])

	book := func(ctx context.Context, i int, scheduled time.Time) sample {
		who := clients[i%len(clients)]
		st, b, err := c.call(ctx, "POST", "/bookings", who, map[string]any{"slot_id": slots[i].id},
			"Idempotency-Key", fmt.Sprintf("%s-%d", run, i))
		lat := time.Since(scheduled)
		switch {
		case err != nil:
			return sample{lat, "transport_error"}
		case st == http.StatusCreated:
			return sample{lat, "201"}
		default:
			var eb struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &eb)
			return sample{lat, fmt.Sprintf("%d %s", st, eb.Error.Code)}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	samples := make([]sample, cfg.N)
	var done atomic.Int64
	start := time.Now()
	mode := "closed-loop"
	if cfg.Rate > 0 {
		mode = "open-loop"
		// Scheduled times are fixed in advance; a semaphore bounds requests in
		// flight. A request that waits for a free slot counts that wait.
		sem := make(chan struct{}, cfg.Concurrency)
		var wg sync.WaitGroup
		interval := time.Duration(float64(time.Second) / cfg.Rate)
	loop:
		for i := range cfg.N {
			at := start.Add(time.Duration(i) * interval)
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break loop
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			wg.Go(func() {
				defer func() { <-sem }()
				samples[i] = book(ctx, i, at)
				done.Add(1)
			})
		}
		wg.Wait()
	} else {
		_ = parallel(ctx, cfg.N, cfg.Concurrency, func(ctx context.Context, i int) error {
			samples[i] = book(ctx, i, time.Now())
			done.Add(1)
			return nil
		})
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
