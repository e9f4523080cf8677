package control_test

import (
	"testing"
	"time"

	"atlas11/control"
)

func TestAccounts_ACC1_ThreeRolesExpertSignupIsFree(t *testing.T) {
	e := newEnv(t)
	ex := e.user(control.RoleExpert, "Ana")
	wantEq(t, "role", ex.Role, control.RoleExpert)
	wantEq(t, "nothing charged", len(e.gw.Calls()), 0)
	j, _ := e.svc.Journal(e.ctx)
	wantEq(t, "no ledger entry", len(j), 0)
	_, err := e.svc.CreateUser(e.ctx, control.NewUser{Email: "x@example.com", Name: "X", Role: control.RoleOperator, PasswordHash: "h"})
	wantCode(t, err, "invalid_role")
	_, err = e.svc.CreateUser(e.ctx, control.NewUser{Email: "not-an-email", Name: "X", Role: control.RoleClient, PasswordHash: "h"})
	wantCode(t, err, "invalid_email")
	_, err = e.svc.CreateUser(e.ctx, control.NewUser{Email: "tz@example.com", Name: "X", Role: control.RoleClient, PasswordHash: "h", TimeZone: "Mars/Olympus"})
	wantCode(t, err, "invalid_time_zone")
	u, err := e.svc.CreateUser(e.ctx, control.NewUser{Email: " Bob@Example.COM ", Name: "Bob", Role: control.RoleClient, PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "normalized", u.Email, "bob@example.com")
	wantEq(t, "default locale", u.Locale, "fr")
	_, err = e.svc.CreateUser(e.ctx, control.NewUser{Email: "bob@example.com", Name: "Bob2", Role: control.RoleExpert, PasswordHash: "h"})
	wantCode(t, err, "email_taken")
	got, err := e.svc.UserByEmail(e.ctx, "BOB@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "by email", got.ID, u.ID)
	op := e.operator()
	wantEq(t, "operator", op.Role, control.RoleOperator)
	// Random, unguessable identifiers.
	if len(u.ID) != 26 || u.ID == op.ID {
		t.Fatalf("ids %q %q", u.ID, op.ID)
	}
}

func TestSessions_CreateLookupExpireDelete(t *testing.T) {
	e := newEnv(t)
	cl := e.client("Bob")
	s, err := e.svc.CreateSession(e.ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.SessionUser(e.ctx, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "user", u.ID, cl.ID)
	_, err = e.svc.SessionUser(e.ctx, s.Token+"x")
	wantCode(t, err, "session_invalid")
	if err := e.svc.DeleteSession(e.ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SessionUser(e.ctx, s.Token)
	wantCode(t, err, "session_invalid")
	s2, _ := e.svc.CreateSession(e.ctx, cl.ID)
	e.at(s2.ExpiresAt)
	_, err = e.svc.SessionUser(e.ctx, s2.Token)
	wantCode(t, err, "session_invalid")
}

func TestProfile_ACC2_PublicPageBySlugWithSlotsAndEvents(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana Lopez")
	slug := "ana-lopez"
	headline := "Go coach"
	if _, err := e.svc.UpdateProfile(e.ctx, ex.ID, control.ProfileUpdate{Slug: &slug, Headline: &headline,
		Languages: []string{"fr", "es"}}); err != nil {
		t.Fatal(err)
	}
	e.slot(ex, t0.Add(30*time.Hour), 60, 5000)
	e.event(ex, t0.Add(50*time.Hour), 1, 5, 2000)
	p, err := e.svc.PublicProfile(e.ctx, slug, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "name", p.Name, "Ana Lopez")
	wantEq(t, "headline", p.Headline, headline)
	wantEq(t, "slots", len(p.Slots), 1)
	wantEq(t, "events", len(p.Events), 1)
	// Another expert cannot take the slug, nor see the private profile.
	other := e.expert("Other")
	_, err = e.svc.UpdateProfile(e.ctx, other.ID, control.ProfileUpdate{Slug: &slug})
	wantCode(t, err, "slug_taken")
	_, err = e.svc.Profile(e.ctx, other.ID, ex.ID)
	wantCode(t, err, "not_yours")
	priv, err := e.svc.Profile(e.ctx, ex.ID, ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	if priv.Billing == nil {
		t.Fatal("owner should see billing details")
	}
}

func TestCloseAccount_ACC3_FutureRefundedEarnedStaysPayable(t *testing.T) {
	e := newEnv(t)
	ex, cl, op := e.expert("Ana"), e.client("Bob"), e.operator()
	done := e.delivered(ex, cl, t0.Add(2*time.Hour), 6000)
	future := e.appointment(ex, cl, t0.Add(200*time.Hour), 6000)
	ev := e.event(ex, t0.Add(300*time.Hour), 1, 5, 2000)
	reg := e.register(cl, ev.ID)
	sl := e.slot(ex, t0.Add(400*time.Hour), 60, 5000)
	e.at(done.End.Add(73 * time.Hour))
	wantCode(t, e.svc.CloseAccount(e.ctx, ex.ID, ex.ID), "role_forbidden")
	if err := e.svc.CloseAccount(e.ctx, op.ID, ex.ID); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "future cancelled", e.bookingOf(cl, future.ID).Status, control.StatusCancelled)
	wantEq(t, "registration cancelled", e.bookingOf(cl, reg.ID).Status, control.StatusCancelled)
	got, _ := e.svc.Event(e.ctx, ev.ID)
	wantEq(t, "event cancelled", got.Status, control.EventCancelled)
	wantEq(t, "client paid only the delivered one", e.paid(cl), 6000)
	wantEq(t, "earned stays payable", e.balances()[control.AccountExpertPayable(ex.ID)], 5400)
	_, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID})
	wantCode(t, err, "expert_closed")
	_, err = e.svc.CreateSession(e.ctx, ex.ID)
	wantCode(t, err, "account_closed")
	// Earned money is still paid out on the 16th.
	e.at(time.Date(2026, 1, 16, 1, 0, 0, 0, time.UTC))
	wantEq(t, "paid out", e.balances()[control.AccountExpertPaid(ex.ID)], 5400)
	e.checkLedger()
}

func TestActivity_ACC4_ItemsWithActionsAllowedNow(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	early := e.appointment(ex, cl, t0.Add(100*time.Hour), 5000)
	late := e.appointment(ex, cl, t0.Add(24*time.Hour), 5000)
	past := e.delivered(ex, cl, t0.Add(2*time.Hour), 5000)
	items, err := e.svc.Activity(e.ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]control.ActivityItem{}
	for _, it := range items {
		byID[it.ID] = it
	}
	action := func(id, name string) (control.Action, bool) {
		for _, a := range byID[id].Actions {
			if a.Name == name {
				return a, true
			}
		}
		return control.Action{}, false
	}
	a, ok := action(early.ID, "cancel")
	wantEq(t, "early cancel offered", ok, true)
	wantEq(t, "early cancel refunds", a.Consequence, "refund")
	a, _ = action(late.ID, "cancel")
	wantEq(t, "late cancel charges", a.Consequence, "charge")
	_, ok = action(past.ID, "open_claim")
	wantEq(t, "claim offered", ok, true)
	_, ok = action(past.ID, "cancel")
	wantEq(t, "no cancel on past", ok, false)
	// Join appears when the room opens, for both sides.
	e.at(late.Start.Add(-10 * time.Minute))
	items, _ = e.svc.Activity(e.ctx, ex.ID)
	joinable := false
	for _, it := range items {
		for _, a := range it.Actions {
			if it.ID == late.ID && a.Name == "join" {
				joinable = true
			}
		}
	}
	wantEq(t, "expert may join", joinable, true)
	// Claims appear with the next step for each side.
	c, _ := e.svc.OpenClaim(e.ctx, cl.ID, past.ID, "x")
	items, _ = e.svc.Activity(e.ctx, ex.ID)
	found := false
	for _, it := range items {
		if it.ID == c.ID && len(it.Actions) == 1 && it.Actions[0].Name == "respond" {
			found = true
		}
	}
	wantEq(t, "expert respond action", found, true)
	// Another client sees none of it.
	items, _ = e.svc.Activity(e.ctx, e.client("Eve").ID)
	wantEq(t, "stranger items", len(items), 0)
}

func TestAuthorization_ClientNeverSeesAnothersBookingExpertNeverAnothersSlots(t *testing.T) {
	e := newEnv(t)
	ex, cl, eve, other := e.expert("Ana"), e.client("Bob"), e.client("Eve"), e.expert("Other")
	b := e.appointment(ex, cl, t0.Add(100*time.Hour), 5000)
	_, err := e.svc.Booking(e.ctx, eve.ID, b.ID)
	wantCode(t, err, "booking_not_found")
	_, err = e.svc.CancelBooking(e.ctx, eve.ID, b.ID, "x")
	wantCode(t, err, "booking_not_found")
	_, err = e.svc.CancelBooking(e.ctx, other.ID, b.ID, "x")
	wantCode(t, err, "booking_not_found")
	sl := e.slot(ex, t0.Add(120*time.Hour), 60, 5000)
	wantCode(t, e.svc.DeleteSlot(e.ctx, other.ID, sl.ID), "slot_not_found")
	r, err := e.svc.AddAvailabilityRule(e.ctx, ex.ID, control.AvailabilityRule{Weekday: time.Monday, StartTime: "09:00",
		EndTime: "12:00", SlotMinutes: 60, PriceCents: 5000, Media: []control.MediaKind{control.MediaVideo}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.DeleteAvailabilityRule(e.ctx, other.ID, r.ID), "rule_not_found")
	_, err = e.svc.Book(e.ctx, "", control.BookRequest{SlotID: sl.ID})
	wantCode(t, err, "not_signed_in")
	_, err = e.svc.Registrations(e.ctx, other.ID, e.event(ex, t0.Add(200*time.Hour), 1, 3, 2000).ID)
	wantCode(t, err, "not_yours")
}

func TestProfile_ACC2_SameNameExpertsGetDistinctLinks(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for range 20 {
		ex := e.expert("Ana")
		p, err := e.svc.Profile(e.ctx, ex.ID, ex.ID)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.Slug] {
			t.Fatalf("slug %s given twice", p.Slug)
		}
		seen[p.Slug] = true
		pub, err := e.svc.PublicProfile(e.ctx, p.Slug, 0)
		if err != nil || pub.ExpertID != ex.ID {
			t.Fatalf("slug %s resolves to %s (%v)", p.Slug, pub.ExpertID, err)
		}
	}
}
