package control_test

import (
	"errors"
	"testing"
	"time"

	"atlas11/control"
)

func TestSlots_TIME1_DaylightSavingNeitherLosesNorDuplicates(t *testing.T) {
	e := newEnv(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	ny, _ := time.LoadLocation("America/New_York")
	ex := e.expert("Ana")
	e.at(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if _, err := e.svc.AddAvailabilityRule(e.ctx, ex.ID, control.AvailabilityRule{Weekday: wd, StartTime: "09:00",
			EndTime: "12:00", SlotMinutes: 60, PriceCents: 5000, Media: []control.MediaKind{control.MediaVideo},
			TimeZone: "Europe/Paris"}); err != nil {
			t.Fatal(err)
		}
	}
	// A night window on Sundays that crosses both changes.
	if _, err := e.svc.AddAvailabilityRule(e.ctx, ex.ID, control.AvailabilityRule{Weekday: time.Sunday, StartTime: "01:00",
		EndTime: "04:00", SlotMinutes: 60, PriceCents: 5000, Media: []control.MediaKind{control.MediaVideo},
		TimeZone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	check := func(from, to time.Time, changeDay time.Time, wantNight int) {
		t.Helper()
		slots, err := e.svc.ListSlots(e.ctx, ex.ID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := e.svc.ListSlots(e.ctx, ex.ID, from, to)
		wantEq(t, "stable listing", len(again), len(slots))
		seen := map[string]bool{}
		perDay := map[string]int{}
		night := 0
		for i, s := range slots {
			if seen[s.ID] {
				t.Fatalf("duplicate slot %s", s.ID)
			}
			seen[s.ID] = true
			wantEq(t, "stable id", again[i].ID, s.ID)
			if i > 0 && s.Start.Before(slots[i-1].End) {
				t.Fatalf("overlapping slots %v and %v", slots[i-1].Start, s.Start)
			}
			l := s.Start.In(paris)
			if l.Hour() >= 9 {
				perDay[l.Format("2006-01-02")]++
				if l.Minute() != 0 || l.Hour() > 11 {
					t.Fatalf("day slot at %v local", l)
				}
			} else if l.Format("2006-01-02") == changeDay.Format("2006-01-02") {
				night++
			}
		}
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			wantEq(t, "day slots on "+d.Format("01-02"), perDay[d.In(paris).Format("2006-01-02")], 3)
		}
		wantEq(t, "night slots on the change day", night, wantNight)
	}
	// Spring: 02:00 -> 03:00 on Sunday 29 March 2026. The night window lasts 2 real hours.
	check(time.Date(2026, 3, 23, 0, 0, 0, 0, paris), time.Date(2026, 4, 5, 0, 0, 0, 0, paris),
		time.Date(2026, 3, 29, 0, 0, 0, 0, paris), 2)
	slots, _ := e.svc.ListSlots(e.ctx, ex.ID, time.Date(2026, 3, 27, 0, 0, 0, 0, paris), time.Date(2026, 3, 31, 0, 0, 0, 0, paris))
	var friday, monday control.Slot
	for _, s := range slots {
		l := s.Start.In(paris)
		if l.Hour() == 9 && l.Day() == 27 {
			friday = s
		}
		if l.Hour() == 9 && l.Day() == 30 {
			monday = s
		}
	}
	// 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer; a client in
	// New York (already on summer time since 8 March) sees 04:00, then 03:00.
	wantEq(t, "winter UTC", friday.Start, time.Date(2026, 3, 27, 8, 0, 0, 0, time.UTC))
	wantEq(t, "summer UTC", monday.Start, time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC))
	wantEq(t, "NY before", friday.Start.In(ny).Format("15:04"), "04:00")
	wantEq(t, "NY after", monday.Start.In(ny).Format("15:04"), "03:00")
	// A slot after the change is bookable by its listed ID.
	b := e.book(e.client("Bob"), monday.ID)
	wantEq(t, "booked instant", b.Start, monday.Start)

	// Autumn: 03:00 -> 02:00 on Sunday 25 October 2026. The window lasts 4 real hours.
	e.at(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	check(time.Date(2026, 10, 19, 0, 0, 0, 0, paris), time.Date(2026, 11, 2, 0, 0, 0, 0, paris),
		time.Date(2026, 10, 25, 0, 0, 0, 0, paris), 4)
}

func TestClock_SimClockNeverGoesBackwards(t *testing.T) {
	c := control.NewSimClock(t0)
	if _, err := c.Advance(time.Hour); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "advanced", c.Now(), t0.Add(time.Hour))
	wantCode(t, c.Set(t0), "clock_backwards")
	_, err := c.Advance(-time.Second)
	wantCode(t, err, "clock_backwards")
	wantEq(t, "unchanged", c.Now(), t0.Add(time.Hour))
}

// A move of a persisted simulation clock is written first; if that fails
// the clock stays where it was, so memory never runs ahead of the store.
func TestClock_SimClockPersistsEachMoveOrRefusesIt(t *testing.T) {
	e := newEnv(t)
	e.clock.PersistTo(e.svc.SaveSimClock)
	if err := e.clock.Set(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.clock.Advance(30 * time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := control.StoredSimClock(e.db)
	if err != nil || !ok || !got.Equal(t0.Add(90*time.Minute)) {
		t.Fatalf("stored clock %v %v %v, want %v", got, ok, err, t0.Add(90*time.Minute))
	}
	e.clock.PersistTo(func(time.Time) error { return errors.New("disk full") })
	if _, err := e.clock.Advance(time.Hour); err == nil {
		t.Fatal("a move that could not be stored was accepted")
	}
	if err := e.clock.Set(t0.Add(5 * time.Hour)); err == nil {
		t.Fatal("a move that could not be stored was accepted")
	}
	wantEq(t, "clock unmoved", e.clock.Now(), t0.Add(90*time.Minute))
}

func TestSettings_DefaultsValidateAndNameTheBadKey(t *testing.T) {
	st := control.DefaultSettings()
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "cap", st.EventCap, 49)
	wantEq(t, "threshold", st.PayoutThresholdCents, 5000)
	wantEq(t, "zone", st.PlatformTimeZone, "Europe/Paris")
	for _, tc := range []struct {
		field string
		mut   func(*control.Settings)
	}{
		{"event_cap", func(s *control.Settings) { s.EventCap = 50 }},
		{"platform_time_zone", func(s *control.Settings) { s.PlatformTimeZone = "Nowhere/City" }},
		{"payout_days", func(s *control.Settings) { s.PayoutDays = []int{31} }},
		{"min_prices", func(s *control.Settings) { s.MinPrices.Chat = -1 }},
		{"currency", func(s *control.Settings) { s.Currency = "EURO" }},
	} {
		s := control.DefaultSettings()
		tc.mut(&s)
		err := s.Validate()
		wantEq(t, "field", control.ErrorField(err), tc.field)
		wantEq(t, "kind", control.ErrorKind(err), control.Invalid)
	}
}

func TestErrors_KindAndCodeNeverFromText(t *testing.T) {
	var err error = control.Errorf(control.Rule, "slot_taken", "taken")
	wantEq(t, "kind", control.ErrorKind(err), control.Rule)
	wantEq(t, "code", control.ErrorCode(err), "slot_taken")
	wantEq(t, "plain kind", control.ErrorKind(errPlain{}), control.Internal)
	wantEq(t, "nil kind", control.ErrorKind(nil), control.Kind(""))
	wantEq(t, "safe message", control.ErrorMessage(errPlain{}), "internal error")
}

type errPlain struct{}

func (errPlain) Error() string { return "disk on fire" }
