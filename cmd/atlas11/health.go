package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// dueStaleAfter is how long the due-work loop may go without finishing a
// round before readiness fails: it ticks every second, so this is a loop
// that is stuck, not one that is busy for a moment.
const dueStaleAfter = 30 * time.Second

// probeEvery caps the store write probes: a load balancer asking /readyz
// every second costs at most one small fsync per interval.
const probeEvery = 2 * time.Second

// storageFailHold keeps readiness failed this long after the storage
// refused a real write, even if a probe got through meanwhile.
const storageFailHold = 5 * time.Second

// health answers /healthz and /readyz.
type health struct {
	probe    func() error     // a real write to the store
	lastFail func() time.Time // when the store last refused a commit
	now      func() time.Time // wall clock (tests move it)
	log      *slog.Logger

	// dueTick is the wall time (Unix ns) the due-work loop last finished a
	// round; 0 until it starts.
	dueTick atomic.Int64
	// Draining is set when this node starts draining (issue 14: SIGTERM,
	// atlas11 drain): /readyz then answers 503 so balancers stop sending
	// new work here, while /healthz stays 200.
	Draining atomic.Bool

	mu        sync.Mutex
	probedAt  time.Time
	probeFail bool
}

func newHealth(probe func() error, lastFail func() time.Time, log *slog.Logger) *health {
	return &health{probe: probe, lastFail: lastFail, now: time.Now, log: log}
}

// dueTicked records a finished round of the due-work loop.
func (h *health) dueTicked() { h.dueTick.Store(h.now().UnixNano()) }

// check is one line of the readiness answer.
type check struct {
	Status string `json:"status"` // "ok" or "fail"
	Detail string `json:"detail,omitempty"`
}

type healthBody struct {
	Status string           `json:"status"` // "ok", "ready" or "not_ready"
	Checks map[string]check `json:"checks"`
}

// storeWritable probes the store, at most once per probeEvery. The cause of
// a failure goes to the log only: the answer is public.
func (h *health) storeWritable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); h.probedAt.IsZero() || now.Sub(h.probedAt) >= probeEvery || now.Before(h.probedAt) {
		err := h.probe()
		h.probedAt, h.probeFail = now, err != nil
		if err != nil {
			h.log.Error("readiness: store write probe failed", "err", err)
		}
	}
	if f := h.lastFail(); !f.IsZero() && h.now().Sub(f) < storageFailHold {
		return false
	}
	return !h.probeFail
}

func (h *health) readiness() (bool, healthBody) {
	b := healthBody{Status: "ready", Checks: map[string]check{}}
	ok := true
	fail := func(name, detail string) {
		b.Checks[name] = check{Status: "fail", Detail: detail}
		ok = false
	}
	if h.storeWritable() {
		b.Checks["store"] = check{Status: "ok"}
	} else {
		fail("store", "the store refused a write")
	}
	switch last := h.dueTick.Load(); {
	case last == 0:
		fail("background", "background work has not started")
	case h.now().Sub(time.Unix(0, last)) > dueStaleAfter:
		fail("background", "background work has not run for "+h.now().Sub(time.Unix(0, last)).Truncate(time.Second).String())
	default:
		b.Checks["background"] = check{Status: "ok"}
	}
	if h.Draining.Load() {
		fail("draining", "this node is draining")
	} else {
		b.Checks["draining"] = check{Status: "ok"}
	}
	if !ok {
		b.Status = "not_ready"
	}
	return ok, b
}

// healthz says the process is alive and serving HTTP; nothing else.
func (h *health) healthz(w http.ResponseWriter, r *http.Request) {
	writeHealth(w, r, http.StatusOK, healthBody{Status: "ok", Checks: map[string]check{"process": {Status: "ok"}}})
}

// readyz says whether this node should get traffic: 503 when a check fails.
func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	ok, b := h.readiness()
	st := http.StatusOK
	if !ok {
		st = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeHealth(w, r, st, b)
}

func writeHealth(w http.ResponseWriter, r *http.Request, status int, b healthBody) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(b)
	}
}
