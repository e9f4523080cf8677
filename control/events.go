package control

import (
	"context"
	"strings"
	"time"
)

// CreateEvent creates a group event for the acting expert (EVT-1..3). The
// event occupies the expert's time like an appointment: no overlap.
func (s *Service) CreateEvent(ctx context.Context, actorID string, in NewEvent) (Event, error) {
	st := s.Settings()
	now := s.clock.Now()
	in.Title = strings.TrimSpace(in.Title)
	switch {
	case in.Title == "":
		return Event{}, fieldErr("title", "invalid_title", "a title of 1 to %d characters is required", MaxTitleLen)
	case in.Start.IsZero():
		return Event{}, fieldErr("start", "invalid_time", "a start time is required")
	}
	for _, err := range []error{checkText("title", in.Title, MaxTitleLen, false),
		checkText("description", in.Description, MaxDescriptionLen, true), checkStart("start", in.Start, now)} {
		if err != nil {
			return Event{}, err
		}
	}
	switch {
	case !validMinutes(in.Minutes, st):
		return Event{}, fieldErr("minutes", "invalid_duration", "an event lasts from 5 minutes to %s", st.MaxItemDuration)
	case in.PriceCents <= 0 || in.PriceCents > 100_000_000:
		return Event{}, fieldErr("price_cents", "invalid_price", "the price must be between 1 and 100000000 cents")
	case in.MinParticipants < 1:
		return Event{}, fieldErr("min_participants", "invalid_participants", "at least one participant is needed")
	case in.MaxParticipants < in.MinParticipants:
		return Event{}, fieldErr("max_participants", "invalid_participants", "the maximum cannot be below the minimum")
	case !in.Start.After(now):
		return Event{}, &Error{Kind: Rule, Code: "time_in_past", Field: "start", Message: "the event starts in the past"}
	case in.PriceCents < st.MinPrices.Event: // EVT-3
		return Event{}, &Error{Kind: Rule, Code: "price_below_minimum", Field: "price_cents",
			Message: "the price is below the minimum for events"}
	}
	e := Event{ID: newID(), Title: in.Title, Description: in.Description, Start: in.Start.UTC().Truncate(time.Second),
		PriceCents: in.PriceCents, MinParticipants: in.MinParticipants, MaxParticipants: in.MaxParticipants,
		Status: EventScheduled, Policy: policyOf(st), CreatedAt: now}
	e.End = e.Start.Add(time.Duration(in.Minutes) * time.Minute)
	err := s.update(func(tx Tx) error {
		u, err := actor(tx, actorID, RoleExpert)
		if err != nil {
			return err
		}
		p, err := loadProfile(tx, u.ID)
		if err != nil {
			return err
		}
		if c := eventCap(st, p); e.MaxParticipants > c { // EVT-2
			return &Error{Kind: Rule, Code: "max_over_cap", Field: "max_participants",
				Message: "the maximum number of participants is limited; contact us to raise it"}
		}
		taken, err := busy(tx, st, u.ID, e.Start, e.End)
		if err != nil {
			return err
		}
		if taken {
			return Errorf(Conflict, "expert_busy", "you already have an appointment or event at this time")
		}
		e.ExpertID = u.ID
		if err := putJSON(tx, bEvents, e.ID, e); err != nil {
			return err
		}
		if err := tx.Put(bExpEvents, []byte(u.ID+"/"+ts(e.Start)+e.ID), nil); err != nil {
			return err
		}
		if err := putSched(tx, u.ID, e.Start, e.End, e.ID); err != nil {
			return err
		}
		if err := addDue(tx, e.Start, dueEventStart, e.ID); err != nil {
			return err
		}
		return addDue(tx, e.End, dueEventEnd, e.ID)
	})
	return e, err
}

// Event returns an event.
func (s *Service) Event(ctx context.Context, eventID string) (Event, error) {
	var e Event
	err := s.view(func(tx Tx) error {
		var err error
		e, err = loadEvent(tx, eventID)
		return err
	})
	return e, err
}

// Events lists an expert's events starting in [from, to).
func (s *Service) Events(ctx context.Context, expertID string, from, to time.Time) ([]Event, error) {
	out := []Event{}
	err := s.view(func(tx Tx) error {
		return tx.Scan(bExpEvents, []byte(expertID+"/"+ts(from)), []byte(expertID+"/"+ts(to)), func(k, _ []byte) error {
			e, err := loadEvent(tx, string(k[len(expertID)+1+8:]))
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// Register registers the acting client to an event and charges the price
// (EVT-4). The seat count is checked and taken in one transaction, so
// registrations never exceed the maximum. Idempotent by key.
func (s *Service) Register(ctx context.Context, actorID, eventID, idempotencyKey string) (Booking, error) {
	st := s.Settings()
	now := s.clock.Now()
	if len(idempotencyKey) > 200 {
		return Booking{}, fieldErr("idempotency_key", "invalid_idempotency_key", "at most 200 characters")
	}
	id := newID()
	var b Booking
	var raw []byte
	err := s.update(func(tx Tx) error {
		raw = nil
		u, err := actor(tx, actorID, RoleClient)
		if err != nil {
			return err
		}
		key := idem{"register/" + u.ID, idempotencyKey, "event=" + eventID}
		if prev, err := key.get(tx); err != nil || prev != "" {
			if err != nil {
				return err
			}
			b, err = loadBooking(tx, prev)
			return err
		}
		e, err := loadEvent(tx, eventID)
		if err != nil {
			return err
		}
		if e.Status != EventScheduled {
			return Errorf(Rule, "event_not_open", "this event is %s", e.Status)
		}
		if !e.Start.After(now) {
			return Errorf(Rule, "event_started", "this event has already started")
		}
		if expertClosed(tx, e.ExpertID) {
			return Errorf(Rule, "expert_closed", "this expert can no longer be booked")
		}
		if tx.Get(bEventRegs, []byte(e.ID+"/"+u.ID)) != nil {
			return Errorf(Conflict, "already_registered", "you are already registered to this event")
		}
		if e.Registered >= e.MaxParticipants {
			return Errorf(Conflict, "event_full", "this event is full")
		}
		e.Registered++
		b = newBooking(Booking{ID: id, Kind: KindRegistration, ExpertID: e.ExpertID, ClientID: u.ID,
			EventID: e.ID, Room: e.ID, Start: e.Start, End: e.End, Media: MediaVideo, PriceCents: e.PriceCents,
			Policy: policyOf(st), CreatedAt: now})
		if raw, err = holdBooking(tx, st, b, key); err != nil {
			return err
		}
		if err := tx.Put(bEventRegs, []byte(e.ID+"/"+u.ID), []byte(b.ID)); err != nil {
			return err
		}
		return putJSON(tx, bEvents, e.ID, e)
	})
	if err != nil {
		return Booking{}, err
	}
	return s.pay(ctx, heldBooking{b, raw})
}

// eventBookings returns the bookings of an event's current registrations.
func eventBookings(tx Tx, eventID string) ([]Booking, error) {
	var out []Booking
	err := scanPrefix(tx, bEventRegs, eventID+"/", func(_, v []byte) error {
		b, err := loadBooking(tx, string(v))
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// Registrations lists an event's registrations: to its expert and operators.
func (s *Service) Registrations(ctx context.Context, actorID, eventID string) ([]Booking, error) {
	var out []Booking
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		e, err := loadEvent(tx, eventID)
		if err != nil {
			return err
		}
		if u.Role != RoleOperator && u.ID != e.ExpertID {
			return Errorf(Forbidden, "not_yours", "only the event's expert sees its participants")
		}
		out, err = eventBookings(tx, eventID)
		return err
	})
	return out, err
}

func lateKey(eventID, bookingID string) string { return "late/" + eventID + "/" + bookingID }

// refundLateCancellers gives back what clients who cancelled late paid for
// an event that did not take place, reversing the split (PAY-4).
func refundLateCancellers(tx Tx, now time.Time, fx *effects, eventID, outcome string) error {
	var ids []string
	err := scanPrefix(tx, bMeta, "late/"+eventID+"/", func(k, _ []byte) error {
		ids = append(ids, string(k[len("late/"+eventID+"/"):]))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		b, err := loadBooking(tx, id)
		if err != nil {
			return err
		}
		if rest := b.PaidCents - b.RefundedCents; rest > 0 {
			if err := claimRefund(tx, now, fx, &b, rest, outcome); err != nil {
				return err
			}
			b.Outcome = outcome
			if err := saveBooking(tx, now, b); err != nil {
				return err
			}
		}
		if err := tx.Delete(bMeta, []byte(lateKey(eventID, id))); err != nil {
			return err
		}
	}
	return nil
}

// cancelEventTx cancels an event and refunds every paid registration
// (EVT-5, EVT-8, ACC-3). Registrations keep their seat records as history.
func cancelEventTx(tx Tx, now time.Time, fx *effects, e *Event, outcome string) error {
	if e.Status != EventScheduled {
		return nil
	}
	regs, err := eventBookings(tx, e.ID)
	if err != nil {
		return err
	}
	for _, b := range regs {
		if b.Status != StatusConfirmed {
			continue // a hold still paying is refunded by confirm
		}
		b.Status = StatusCancelled
		b.CancelledBy = RoleExpert
		b.CancelledAt = now
		if err := refundAll(tx, now, fx, &b, outcome); err != nil {
			return err
		}
		if err := saveBooking(tx, now, b); err != nil {
			return err
		}
	}
	if err := refundLateCancellers(tx, now, fx, e.ID, outcome); err != nil {
		return err
	}
	e.Status = EventCancelled
	e.Outcome = outcome
	if err := delSched(tx, e.ExpertID, e.Start, e.ID); err != nil {
		return err
	}
	if err := delDue(tx, e.Start, dueEventStart, e.ID); err != nil {
		return err
	}
	if err := delDue(tx, e.End, dueEventEnd, e.ID); err != nil {
		return err
	}
	return putJSON(tx, bEvents, e.ID, *e)
}

// CancelEvent lets the expert cancel an event before it starts; every
// registration is fully refunded (EVT-8). Cancelling twice returns the
// cancelled event.
func (s *Service) CancelEvent(ctx context.Context, actorID, eventID, idempotencyKey string) (Event, error) {
	now := s.clock.Now()
	var e Event
	var fx effects
	err := s.update(func(tx Tx) error {
		fx = effects{}
		u, err := actor(tx, actorID, RoleExpert, RoleOperator)
		if err != nil {
			return err
		}
		e, err = loadEvent(tx, eventID)
		if err != nil {
			return err
		}
		if u.Role != RoleOperator && e.ExpertID != u.ID {
			return Errorf(NotFound, "event_not_found", "no such event")
		}
		if e.Status == EventCancelled {
			return nil
		}
		if e.Status != EventScheduled || !now.Before(e.Start) {
			return Errorf(Rule, "event_started", "an event cannot be cancelled once it has started")
		}
		return cancelEventTx(tx, now, &fx, &e, "cancelled_by_expert")
	})
	if err == nil {
		s.flushOutbox(ctx, fx.outbox)
	}
	return e, err
}
