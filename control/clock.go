package control

import (
	"fmt"
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
	mu      sync.Mutex
	now     time.Time
	persist func(time.Time) error
}

// PersistTo makes every move of the clock write the new instant through fn
// first, and refuse the move if fn fails: a demo restarted after a crash
// then resumes where it was instead of at wall time, which may lie before
// work already done.
func (c *SimClock) PersistTo(fn func(time.Time) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.persist = fn
}

// move sets the clock to next once it is persisted; c.mu is held.
func (c *SimClock) move(next time.Time) error {
	if c.persist != nil {
		if err := c.persist(next); err != nil {
			return err
		}
	}
	c.now = next
	return nil
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
	err := c.move(next)
	return c.now, err
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
	return c.move(t.UTC())
}

const simClockKey = "sim_clock" // in bMeta: the simulation clock's last instant

// SaveSimClock stores the simulation clock's instant; give it to
// SimClock.PersistTo.
func (s *Service) SaveSimClock(t time.Time) error {
	return s.update(func(tx Tx) error {
		return tx.Put(bMeta, []byte(simClockKey), []byte(t.UTC().Format(time.RFC3339Nano)))
	})
}

// StoredSimClock reads the instant SaveSimClock stored, if any, for a
// simulation clock to start from at the next start.
func StoredSimClock(st Store) (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := st.View(func(tx Tx) error {
		v := tx.Get(bMeta, []byte(simClockKey))
		if v == nil {
			return nil
		}
		var err error
		if t, err = time.Parse(time.RFC3339Nano, string(v)); err != nil || !SaneInstant(t) {
			return fmt.Errorf("stored simulation clock %q is not a sane instant", v)
		}
		ok = true
		return nil
	})
	return t, ok, err
}
