package api

import (
	"math"
	"sync"
	"time"
)

// limiter is an in-memory token bucket per key (an email or an IP) for
// failed sign-ins. Only failures take tokens; a key with no token left is
// refused before its password is even checked. The clock is injected so the
// refill is tested without sleeping.
type limiter struct {
	now      func() time.Time
	burst    float64       // tokens a fresh key holds
	interval time.Duration // one token back per interval
	maxKeys  int           // memory bound: full buckets are dropped past it

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(now func() time.Time, burst int, interval time.Duration) *limiter {
	return &limiter{now: now, burst: float64(burst), interval: interval, maxKeys: 100_000,
		buckets: map[string]*bucket{}}
}

// refill brings b up to date; the caller holds mu.
func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(el)/float64(l.interval))
		b.at = now
	}
}

// Allowed reports whether key may try again, and if not, how long to wait.
func (l *limiter) Allowed(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true, 0
	}
	now := l.now()
	l.refill(b, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.interval))
}

// Fail takes one token from key.
func (l *limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
}

// prune drops buckets that have refilled completely: they carry no state.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
