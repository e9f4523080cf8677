package control

import (
	"sync"
	"time"
)

// Clock is the only source of "now" in the domain. Each operation reads it
// once and uses that instant throughout, so a rule never sees time move.
type Clock interface {
	Now() time.Time
}

// SystemClock reads the wall clock.
type SystemClock struct{}

// Now returns the current UTC time.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// SimClock is a manually driven clock for tests and for --clock=sim demos.
// It is safe for concurrent use and never goes backwards.
type SimClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewSimClock returns a SimClock set to start.
func NewSimClock(start time.Time) *SimClock {
	return &SimClock{now: start.UTC()}
}

// Now returns the simulated time.
func (c *SimClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d; a negative d is refused.
func (c *SimClock) Advance(d time.Duration) (time.Time, error) {
	if d < 0 {
		return c.Now(), fieldErr("advance", "clock_backwards", "the simulation clock only moves forward")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.now.Add(d)
	if !SaneInstant(next) || next.Before(c.now) { // Add saturates on overflow
		return c.now, fieldErr("advance", "invalid_time", "the simulation clock stays before %d", MaxInstant.Year())
	}
	c.now = next
	return c.now, nil
}

// Set moves the clock to t; moving it backwards is refused because stored
// state (settled bookings, payouts) assumes time only moves forward.
func (c *SimClock) Set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return fieldErr("set", "clock_backwards", "the simulation clock only moves forward")
	}
	if !SaneInstant(t) {
		return fieldErr("set", "invalid_time", "the simulation clock stays before %d", MaxInstant.Year())
	}
	c.now = t.UTC()
	return nil
}
