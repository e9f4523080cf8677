package control

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxSlotSpan bounds one ListSlots call so that expansion stays cheap.
const maxSlotSpan = 62 * 24 * time.Hour

func parseHHMM(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

func validMedia(ms []MediaKind) error {
	if len(ms) == 0 {
		return fieldErr("media", "media_required", "choose at least one communication type")
	}
	for i, m := range ms {
		if m != MediaVideo && m != MediaAudio && m != MediaChat {
			return fieldErr("media", "invalid_media", "unknown communication type %q", truncate(string(m), 20))
		}
		if slices.Contains(ms[:i], m) {
			return fieldErr("media", "duplicate_media", "%q is listed twice", m)
		}
	}
	return nil
}

// checkPrice enforces APT-4/PAY-3: the price covers the minimum of every
// communication type it is offered with.
func checkPrice(st Settings, price int64, ms []MediaKind) error {
	if price <= 0 || price > 100_000_000 {
		return fieldErr("price_cents", "invalid_price", "the price must be between 1 and 100000000 cents")
	}
	for _, m := range ms {
		if min := st.MinPrices.For(m); price < min {
			return &Error{Kind: Rule, Code: "price_below_minimum", Field: "price_cents",
				Message: "the price is below the minimum of " + strconv.FormatInt(min, 10) + " cents for " + string(m)}
		}
	}
	return nil
}

// AddAvailabilityRule publishes a weekly availability rule for the acting
// expert, in the expert's time zone unless the rule names one (APT-1, TIME-1).
func (s *Service) AddAvailabilityRule(ctx context.Context, actorID string, r AvailabilityRule) (AvailabilityRule, error) {
	st := s.Settings()
	now := s.clock.Now()
	if r.Weekday < time.Sunday || r.Weekday > time.Saturday {
		return r, fieldErr("weekday", "invalid_weekday", "weekday must be 0 (Sunday) to 6")
	}
	start, ok1 := parseHHMM(r.StartTime)
	end, ok2 := parseHHMM(r.EndTime)
	if !ok1 || !ok2 {
		return r, fieldErr("start_time", "invalid_time", "times are HH:MM")
	}
	if end <= start {
		return r, fieldErr("end_time", "invalid_time", "the end must be after the start")
	}
	if !validMinutes(r.SlotMinutes, st) || r.SlotMinutes > end-start {
		return r, fieldErr("slot_minutes", "invalid_duration", "slots last from 5 minutes to the window length")
	}
	if err := validMedia(r.Media); err != nil {
		return r, err
	}
	if err := checkPrice(st, r.PriceCents, r.Media); err != nil {
		return r, err
	}
	if r.TimeZone != "" && !validTimeZone(r.TimeZone) {
		return r, fieldErr("time_zone", "invalid_time_zone", "unknown IANA time zone %q", r.TimeZone)
	}
	r.ID = newID()
	r.ValidFrom = now
	err := s.update(func(tx Tx) error {
		u, err := actor(tx, actorID, RoleExpert)
		if err != nil {
			return err
		}
		r.ExpertID = u.ID
		if r.TimeZone == "" {
			p, err := loadProfile(tx, u.ID)
			if err != nil {
				return err
			}
			r.TimeZone = p.TimeZone
		}
		if err := putJSON(tx, bRules, r.ID, r); err != nil {
			return err
		}
		return tx.Put(bExpRules, []byte(u.ID+"/"+r.ID), nil)
	})
	return r, err
}

// DeleteAvailabilityRule removes a rule; booked slots stay booked.
func (s *Service) DeleteAvailabilityRule(ctx context.Context, actorID, ruleID string) error {
	return s.update(func(tx Tx) error {
		u, err := actor(tx, actorID, RoleExpert)
		if err != nil {
			return err
		}
		var r AvailabilityRule
		ok, err := getJSON(tx, bRules, ruleID, &r)
		if err != nil {
			return err
		}
		if !ok || r.ExpertID != u.ID {
			return Errorf(NotFound, "rule_not_found", "no such availability rule")
		}
		if err := tx.Delete(bRules, []byte(ruleID)); err != nil {
			return err
		}
		return tx.Delete(bExpRules, []byte(u.ID+"/"+ruleID))
	})
}

// AvailabilityRules lists an expert's rules.
func (s *Service) AvailabilityRules(ctx context.Context, expertID string) ([]AvailabilityRule, error) {
	var out []AvailabilityRule
	err := s.view(func(tx Tx) error {
		var err error
		out, err = expertRules(tx, expertID)
		return err
	})
	return out, err
}

func expertRules(tx Tx, expertID string) ([]AvailabilityRule, error) {
	var out []AvailabilityRule
	err := scanPrefix(tx, bExpRules, expertID+"/", func(k, _ []byte) error {
		var r AvailabilityRule
		ok, err := getJSON(tx, bRules, string(k[len(expertID)+1:]), &r)
		if ok {
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// AddSlot publishes one bookable one-off slot for the acting expert.
func (s *Service) AddSlot(ctx context.Context, actorID string, in OneOffSlot) (Slot, error) {
	st := s.Settings()
	now := s.clock.Now()
	if in.Start.IsZero() {
		return Slot{}, fieldErr("start", "invalid_time", "a start time is required")
	}
	if err := checkStart("start", in.Start, now); err != nil {
		return Slot{}, err
	}
	if !in.Start.After(now) {
		return Slot{}, &Error{Kind: Rule, Code: "time_in_past", Field: "start", Message: "the slot starts in the past"}
	}
	if !validMinutes(in.Minutes, st) {
		return Slot{}, fieldErr("minutes", "invalid_duration", "a slot lasts from 5 minutes to %s", st.MaxItemDuration)
	}
	if err := validMedia(in.Media); err != nil {
		return Slot{}, err
	}
	if err := checkPrice(st, in.PriceCents, in.Media); err != nil {
		return Slot{}, err
	}
	sl := Slot{ID: newID(), Start: in.Start.UTC().Truncate(time.Second), PriceCents: in.PriceCents, Media: in.Media}
	sl.End = sl.Start.Add(time.Duration(in.Minutes) * time.Minute)
	err := s.update(func(tx Tx) error {
		u, err := actor(tx, actorID, RoleExpert)
		if err != nil {
			return err
		}
		sl.ExpertID = u.ID
		if err := putJSON(tx, bSlots, sl.ID, sl); err != nil {
			return err
		}
		return tx.Put(bExpSlots, []byte(u.ID+"/"+ts(sl.Start)+sl.ID), nil)
	})
	return sl, err
}

// DeleteSlot removes an unbooked one-off slot.
func (s *Service) DeleteSlot(ctx context.Context, actorID, slotID string) error {
	return s.update(func(tx Tx) error {
		u, err := actor(tx, actorID, RoleExpert)
		if err != nil {
			return err
		}
		var sl Slot
		ok, err := getJSON(tx, bSlots, slotID, &sl)
		if err != nil {
			return err
		}
		if !ok || sl.ExpertID != u.ID {
			return Errorf(NotFound, "slot_not_found", "no such slot")
		}
		if tx.Get(bSlotBook, []byte(slotID)) != nil {
			return Errorf(Conflict, "slot_booked", "a booked slot cannot be removed; cancel the booking")
		}
		if err := tx.Delete(bSlots, []byte(slotID)); err != nil {
			return err
		}
		return tx.Delete(bExpSlots, []byte(u.ID+"/"+ts(sl.Start)+sl.ID))
	})
}

// ruleSlotID derives the stable ID of a rule slot from the rule and start.
func ruleSlotID(ruleID string, start time.Time) string {
	return ruleID + "." + strconv.FormatInt(start.Unix(), 36)
}

// expandRule returns the slots of r whose local date is in [day0, day1] in
// the rule's zone. Slots are cut by elapsed time from the local start to the
// local end instant, so a window crossing a DST change yields slots that
// neither overlap nor repeat (TIME-1).
func expandRule(r AvailabilityRule, loc *time.Location, day0, day1 time.Time) []Slot {
	var out []Slot
	sm, _ := parseHHMM(r.StartTime)
	em, _ := parseHHMM(r.EndTime)
	length := time.Duration(r.SlotMinutes) * time.Minute
	for d := day0; !d.After(day1); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc) {
		if d.Weekday() != r.Weekday {
			continue
		}
		ws := time.Date(d.Year(), d.Month(), d.Day(), sm/60, sm%60, 0, 0, loc)
		we := time.Date(d.Year(), d.Month(), d.Day(), em/60, em%60, 0, 0, loc)
		for t := ws; !t.Add(length).After(we); t = t.Add(length) {
			if t.Before(r.ValidFrom) {
				continue
			}
			st := t.UTC()
			out = append(out, Slot{ID: ruleSlotID(r.ID, st), ExpertID: r.ExpertID, RuleID: r.ID,
				Start: st, End: st.Add(length), PriceCents: r.PriceCents, Media: r.Media})
		}
	}
	return out
}

func localDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// resolveSlot finds a slot by ID: a one-off slot, or a rule slot whose start
// is a real expansion of a live rule.
func resolveSlot(tx Tx, slotID string) (Slot, error) {
	notFound := Errorf(NotFound, "slot_not_found", "no such slot")
	ruleID, startS, isRule := strings.Cut(slotID, ".")
	if !isRule {
		var sl Slot
		ok, err := getJSON(tx, bSlots, slotID, &sl)
		if err != nil {
			return sl, err
		}
		if !ok {
			return sl, notFound
		}
		return sl, nil
	}
	unix, err := strconv.ParseInt(startS, 36, 64)
	if err != nil {
		return Slot{}, notFound
	}
	var r AvailabilityRule
	ok, err := getJSON(tx, bRules, ruleID, &r)
	if err != nil {
		return Slot{}, err
	}
	if !ok {
		return Slot{}, notFound
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		return Slot{}, notFound
	}
	start := time.Unix(unix, 0)
	day := localDay(start, loc)
	for _, sl := range expandRule(r, loc, day, day) {
		if sl.ID == slotID {
			return sl, nil
		}
	}
	return Slot{}, notFound
}

// busy reports whether the expert has an active booking, hold or event
// overlapping [start, end). Keys are expert/start/item, so this is a short
// range scan bounded by the longest item.
func busy(tx Tx, st Settings, expertID string, start, end time.Time) (bool, error) {
	found := false
	from := []byte(expertID + "/" + ts(start.Add(-st.MaxItemDuration)))
	to := []byte(expertID + "/" + ts(end))
	err := tx.Scan(bSched, from, to, func(_, v []byte) error {
		if parseTS(string(v)).After(start) {
			found = true
			return ErrStopScan
		}
		return nil
	})
	return found, err
}

func schedKey(expertID string, start time.Time, itemID string) []byte {
	return []byte(expertID + "/" + ts(start) + "/" + itemID)
}

func putSched(tx Tx, expertID string, start, end time.Time, itemID string) error {
	return tx.Put(bSched, schedKey(expertID, start, itemID), []byte(ts(end)))
}

func delSched(tx Tx, expertID string, start time.Time, itemID string) error {
	return tx.Delete(bSched, schedKey(expertID, start, itemID))
}

// ListSlots expands an expert's rules and one-off slots into concrete free
// slots starting in [from, to) and not in the past, with stable IDs. Slots
// overlapping a booking or event of the expert are left out. The span is
// capped at 62 days.
func (s *Service) ListSlots(ctx context.Context, expertID string, from, to time.Time) ([]Slot, error) {
	st := s.Settings()
	now := s.clock.Now()
	if from.Before(now) {
		from = now
	}
	if to.Sub(from) > maxSlotSpan {
		to = from.Add(maxSlotSpan)
	}
	if !to.After(from) {
		return []Slot{}, nil
	}
	out := []Slot{}
	err := s.view(func(tx Tx) error {
		p, err := loadProfile(tx, expertID)
		if err != nil {
			return err
		}
		if p.Closed {
			return nil
		}
		rules, err := expertRules(tx, expertID)
		if err != nil {
			return err
		}
		var all []Slot
		for _, r := range rules {
			loc, err := time.LoadLocation(r.TimeZone)
			if err != nil {
				continue
			}
			all = append(all, expandRule(r, loc, localDay(from, loc), localDay(to, loc))...)
		}
		err = tx.Scan(bExpSlots, []byte(expertID+"/"+ts(from)), []byte(expertID+"/"+ts(to)), func(k, _ []byte) error {
			var sl Slot
			ok, err := getJSON(tx, bSlots, string(k[len(expertID)+1+8:]), &sl)
			if ok {
				all = append(all, sl)
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, sl := range all {
			if sl.Start.Before(from) || !sl.Start.Before(to) {
				continue
			}
			taken, err := busy(tx, st, expertID, sl.Start, sl.End)
			if err != nil {
				return err
			}
			if !taken {
				out = append(out, sl)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	out = slices.Clip(out)
	return out, err
}

// validMinutes bounds a duration in minutes before converting it, so a huge
// value cannot overflow into an accepted one.
func validMinutes(n int, st Settings) bool {
	return n >= 5 && n <= 7*24*60 && time.Duration(n)*time.Minute <= st.MaxItemDuration
}
