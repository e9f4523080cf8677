package control

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// A private calendar feed lets a user subscribe, from any calendar app, to
// their upcoming appointments and events. The feed's URL carries a secret
// token; only its hash is stored, and issuing a new one revokes the old.

// CalendarEntry is one item of a feed or of an "add to calendar" file.
type CalendarEntry struct {
	UID        string      // stable: the same as in the e-mailed invitations
	Kind       BookingKind // appointment, or registration (an event)
	Title      string      // an event's title
	ExpertName string
	ClientName string // for an appointment
	Start, End time.Time
	Room       string
	Expert     bool // the feed's owner is the expert
	Updated    time.Time
}

// CalendarFeed is what a feed shows: its owner and their entries.
type CalendarFeed struct {
	User    User
	Entries []CalendarEntry
}

const (
	calFeedPast   = 30 * 24 * time.Hour  // recent past kept, for calendars that sync late
	calFeedFuture = 400 * 24 * time.Hour // slots and events are at most two years ahead; a year is plenty
)

func calFeedMetaKey(userID string) string { return "calfeed/" + userID }

// NewCalendarFeed issues a new feed token for the caller and revokes the
// previous one. The token is returned once.
func (s *Service) NewCalendarFeed(ctx context.Context, userID string) (string, error) {
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	err := s.update(func(tx Tx) error {
		if _, err := actor(tx, userID, RoleClient, RoleExpert); err != nil {
			return err
		}
		if err := revokeFeed(tx, userID); err != nil {
			return err
		}
		h := string(sessionKey(token))
		if err := tx.Put(bCalFeeds, []byte(h), []byte(userID)); err != nil {
			return err
		}
		return tx.Put(bMeta, []byte(calFeedMetaKey(userID)), []byte(h))
	})
	return token, err
}

// RevokeCalendarFeed ends the caller's feed: its URL answers 404 from now.
func (s *Service) RevokeCalendarFeed(ctx context.Context, userID string) error {
	return s.update(func(tx Tx) error {
		if _, err := actor(tx, userID, RoleClient, RoleExpert); err != nil {
			return err
		}
		return revokeFeed(tx, userID)
	})
}

func revokeFeed(tx Tx, userID string) error {
	old := tx.Get(bMeta, []byte(calFeedMetaKey(userID)))
	if old == nil {
		return nil
	}
	if err := tx.Delete(bCalFeeds, old); err != nil {
		return err
	}
	return tx.Delete(bMeta, []byte(calFeedMetaKey(userID)))
}

// CalendarFeedOf resolves a feed token: the owner's confirmed appointments
// and registrations and, for an expert, the events they host, from a month
// ago to a year ahead. An unknown or revoked token, or a closed account, is
// not found.
func (s *Service) CalendarFeedOf(ctx context.Context, token string) (CalendarFeed, error) {
	now := s.clock.Now()
	var f CalendarFeed
	notFound := Errorf(NotFound, "feed_not_found", "no such calendar feed")
	if token == "" || len(token) > 64 {
		return f, notFound
	}
	err := s.view(func(tx Tx) error {
		id := tx.Get(bCalFeeds, sessionKey(token))
		if id == nil {
			return notFound
		}
		u, err := loadUser(tx, string(id))
		if err != nil || u.Closed {
			return notFound
		}
		f.User = u
		from, to := now.Add(-calFeedPast), now.Add(calFeedFuture)
		seen := map[string]bool{}
		add := func(b Booking) {
			if (b.Status != StatusConfirmed && b.Status != StatusCompleted) || seen[b.ID] {
				return
			}
			seen[b.ID] = true
			f.Entries = append(f.Entries, entryOf(tx, b, u.ID == b.ExpertID))
		}
		if err := tx.Scan(bUserItems, []byte(u.ID+"/"+ts(from)), []byte(u.ID+"/"+ts(to)), func(k, _ []byte) error {
			if b, err := loadBooking(tx, string(k[len(u.ID)+1+8:])); err == nil {
				add(b)
			}
			return nil
		}); err != nil {
			return err
		}
		if u.Role != RoleExpert {
			return nil
		}
		return tx.Scan(bSched, []byte(u.ID+"/"+ts(from)), []byte(u.ID+"/"+ts(to)), func(k, _ []byte) error {
			item := string(k[len(u.ID)+1+8+1:]) // expertID/startBE/itemID
			if b, err := loadBooking(tx, item); err == nil {
				add(b)
				return nil
			}
			if e, err := loadEvent(tx, item); err == nil && e.Status == EventScheduled {
				f.Entries = append(f.Entries, CalendarEntry{UID: e.ID + "@atlas11", Kind: KindRegistration, Title: e.Title,
					ExpertName: u.Name, Start: e.Start, End: e.End, Room: e.ID, Expert: true, Updated: e.CreatedAt})
			}
			return nil
		})
	})
	return f, err
}

// BookingCalendar is one booking as a calendar entry, for "add to
// calendar" (its client, its expert or an operator).
func (s *Service) BookingCalendar(ctx context.Context, actorID, bookingID string) (CalendarEntry, User, error) {
	var e CalendarEntry
	var u User
	err := s.view(func(tx Tx) error {
		var err error
		if u, err = actor(tx, actorID); err != nil {
			return err
		}
		b, err := loadBooking(tx, bookingID)
		if ErrorKind(err) == NotFound || (err == nil && !visible(u, b)) {
			return Errorf(NotFound, "booking_not_found", "no such booking")
		}
		if err != nil {
			return err
		}
		e = entryOf(tx, b, u.ID == b.ExpertID)
		return nil
	})
	return e, u, err
}

func entryOf(tx Tx, b Booking, expert bool) CalendarEntry {
	e := CalendarEntry{UID: b.ID + "@atlas11", Kind: b.Kind, Start: b.Start, End: b.End, Room: b.Room,
		Expert: expert, Updated: b.CreatedAt}
	if u, err := loadUser(tx, b.ExpertID); err == nil {
		e.ExpertName = u.Name
	}
	if u, err := loadUser(tx, b.ClientID); err == nil {
		e.ClientName = u.Name
	}
	if b.Kind == KindRegistration {
		if ev, err := loadEvent(tx, b.EventID); err == nil {
			e.Title = ev.Title
		}
		// An event's registrations share its room; each is its own entry.
		e.UID = b.ID + "@atlas11"
	}
	e.Title = strings.TrimSpace(e.Title)
	return e
}
