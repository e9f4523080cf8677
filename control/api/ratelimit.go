package api

import (
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// limiter is an in-memory token bucket per key (an email, an IP, a user).
// An attempt takes its token before the work it guards (Take), so parallel
// attempts cannot all pass one check before any of them is counted; a
// successful sign-in gives its token back (Refund): only failures drain the
// bucket. The clock is injected so the refill is tested without sleeping.
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

// Take atomically takes one token from key; when none is left it takes
// nothing and says how long until the next one.
func (l *limiter) Take(key string) (bool, time.Duration) {
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
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.interval))
	}
	b.tokens--
	return true, 0
}

// Refund gives back a token taken by Take, for an attempt that succeeded or
// never ran.
func (l *limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		l.refill(b, l.now())
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
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

// takeAll takes one token from each limiter under its key, or none at all:
// a refusal by one refunds the others. It returns the longest wait.
func takeAll(ls []*limiter, keys []string) (bool, time.Duration) {
	for i, l := range ls {
		if ok, wait := l.Take(keys[i]); !ok {
			for j := range i {
				ls[j].Refund(keys[j])
			}
			return false, wait
		}
	}
	return true, 0
}

func refundAll(ls []*limiter, keys []string) {
	for i, l := range ls {
		l.Refund(keys[i])
	}
}

// retryAfter sets the Retry-After header, in whole seconds rounded up.
func retryAfter(c *gin.Context, wait time.Duration) {
	c.Header("Retry-After", fmt.Sprint(int(wait/time.Second)+1))
}

// clientKey is the rate-limit key of a request's client address: the
// address itself for IPv4, its /64 for IPv6, since one subscriber usually
// holds a whole /64 and could otherwise rotate through it.
func clientKey(c *gin.Context) string {
	ip := net.ParseIP(c.ClientIP())
	if ip == nil {
		return c.ClientIP()
	}
	if ip.To4() != nil {
		return ip.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
