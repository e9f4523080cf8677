package control_test

import (
	"testing"
	"time"

	"atlas11/control"
)

// APT-2, PAY-1: one client per appointment, charged exactly the price.
func TestBook_APT2_PAY1_ChargesExactlyThePriceIntoEscrow(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(72*time.Hour), 4500)
	wantEq(t, "paid", e.paid(cl), 4500)
	wantEq(t, "escrow", e.balances()[control.AccountEscrow(b.ID)], 4500)
	calls := e.gw.Calls()
	wantEq(t, "gateway calls", len(calls), 1)
	wantEq(t, "charged", calls[0].AmountCents, 4500)
	// APT-2: a second client cannot take the same appointment.
	_, err := e.svc.Book(e.ctx, e.client("Cy").ID, control.BookRequest{SlotID: b.SlotID})
	wantCode(t, err, "slot_taken")
	e.checkLedger()
}

func TestBook_APT1_SlotHasItsOwnPriceAndMedia(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	sl, err := e.svc.AddSlot(e.ctx, ex.ID, control.OneOffSlot{Start: t0.Add(72 * time.Hour), Minutes: 30,
		PriceCents: 900, Media: []control.MediaKind{control.MediaAudio}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID, Media: control.MediaVideo})
	wantCode(t, err, "media_not_offered")
	b, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID, Media: control.MediaAudio})
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "media", b.Media, control.MediaAudio)
	wantEq(t, "price", b.PriceCents, 900)
	wantEq(t, "end", b.End, sl.Start.Add(30*time.Minute))
}

func TestBook_APT4_PAY3_PriceAtLeastMinimumPerType(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	st := control.DefaultSettings()
	for _, tc := range []struct {
		media []control.MediaKind
		price int64
		code  string
	}{
		{[]control.MediaKind{control.MediaVideo}, st.MinPrices.Video - 1, "price_below_minimum"},
		{[]control.MediaKind{control.MediaVideo}, st.MinPrices.Video, ""},
		{[]control.MediaKind{control.MediaChat}, st.MinPrices.Chat, ""},
		{[]control.MediaKind{control.MediaChat, control.MediaVideo}, st.MinPrices.Chat, "price_below_minimum"},
		{[]control.MediaKind{control.MediaAudio}, -5, "invalid_price"},
	} {
		_, err := e.svc.AddSlot(e.ctx, ex.ID, control.OneOffSlot{Start: t0.Add(72 * time.Hour), Minutes: 30,
			PriceCents: tc.price, Media: tc.media})
		wantCode(t, err, tc.code)
	}
	// A minimum raised later applies to new bookings of old slots too.
	sl := e.slot(ex, t0.Add(96*time.Hour), 30, st.MinPrices.Video)
	op := e.operator()
	raised := st.MinPrices
	raised.Video += 100
	if _, err := e.svc.UpdateRuntimeSettings(e.ctx, op.ID, control.RuntimeSettings{MinPrices: &raised}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Book(e.ctx, e.client("Bob").ID, control.BookRequest{SlotID: sl.ID})
	wantCode(t, err, "price_below_minimum")
}

func TestBook_PastSlotRefused(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	_, err := e.svc.AddSlot(e.ctx, ex.ID, control.OneOffSlot{Start: t0.Add(-time.Hour), Minutes: 30,
		PriceCents: 5000, Media: []control.MediaKind{control.MediaVideo}})
	wantCode(t, err, "time_in_past")
	sl := e.slot(ex, t0.Add(time.Hour), 30, 5000)
	e.at(t0.Add(2 * time.Hour))
	_, err = e.svc.Book(e.ctx, e.client("Bob").ID, control.BookRequest{SlotID: sl.ID})
	wantCode(t, err, "time_in_past")
}

func TestBook_NoOverlapOfOneExpertsBookingsAndEvents(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Ana")
	start := t0.Add(72 * time.Hour)
	a := e.slot(ex, start, 60, 5000)
	b := e.slot(ex, start.Add(30*time.Minute), 60, 5000) // overlaps a
	e.book(e.client("Bob"), a.ID)
	_, err := e.svc.Book(e.ctx, e.client("Cy").ID, control.BookRequest{SlotID: b.ID})
	wantCode(t, err, "expert_busy")
	// The expert's own event cannot overlap a booked appointment either.
	_, err = e.svc.CreateEvent(e.ctx, ex.ID, control.NewEvent{Title: "Talk", Start: start.Add(45 * time.Minute),
		Minutes: 30, PriceCents: 2000, MinParticipants: 1, MaxParticipants: 10})
	wantCode(t, err, "expert_busy")
	// Back to back is fine.
	e.book(e.client("Dee"), e.slot(ex, start.Add(time.Hour), 30, 5000).ID)
	// And a slot overlapping an event is not listed.
	ev := e.event(ex, start.Add(3*time.Hour), 1, 5, 2000)
	c := e.slot(ex, ev.Start.Add(-30*time.Minute), 60, 5000)
	slots, err := e.svc.ListSlots(e.ctx, ex.ID, start, start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.ID == c.ID || s.ID == b.ID {
			t.Fatalf("overlapping slot %s listed", s.ID)
		}
	}
	_, err = e.svc.Book(e.ctx, e.client("Eve").ID, control.BookRequest{SlotID: c.ID})
	wantCode(t, err, "expert_busy")
}

func TestCancel_APT5_ExpertCancelsUntilStartFullRefund(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	start := t0.Add(3 * time.Hour)
	b := e.appointment(ex, cl, start, 6000)
	e.at(start.Add(-time.Minute))
	got, err := e.svc.CancelBooking(e.ctx, ex.ID, b.ID, "c1")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "status", got.Status, control.StatusCancelled)
	wantEq(t, "paid", e.paid(cl), 0)
	wantEq(t, "refund calls", len(e.gw.Calls()), 2)
	// Repeat is harmless.
	if _, err := e.svc.CancelBooking(e.ctx, ex.ID, b.ID, "c1"); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "gateway calls after repeat", len(e.gw.Calls()), 2)
	b2 := e.appointment(ex, cl, start.Add(2*time.Hour), 6000)
	e.at(b2.Start)
	_, err = e.svc.CancelBooking(e.ctx, ex.ID, b2.ID, "c2")
	wantCode(t, err, "booking_started")
	e.checkLedger()
}

func TestCancel_APT6_ClientCancelWindow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		before   time.Duration
		wantPaid int64
	}{
		{"EarlyRefunded", 48*time.Hour + time.Minute, 0},
		{"Exactly48hRefunded", 48 * time.Hour, 0},
		{"LateCharged", 48*time.Hour - time.Minute, 7000},
		{"LastMinuteCharged", time.Minute, 7000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ex, cl := e.expert("Ana"), e.client("Bob")
			start := t0.Add(100 * time.Hour)
			b := e.appointment(ex, cl, start, 7000)
			e.at(start.Add(-tc.before))
			got, err := e.svc.CancelBooking(e.ctx, cl.ID, b.ID, "c")
			if err != nil {
				t.Fatal(err)
			}
			wantEq(t, "status", got.Status, control.StatusCancelled)
			wantEq(t, "paid", e.paid(cl), tc.wantPaid)
			wantEq(t, "charged", got.Charged, tc.wantPaid > 0)
			e.checkLedger()
		})
	}
}

func TestSettle_APT6_ClientNoShowPaysInFull(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(5*time.Hour), 5000)
	e.presence(b.Room, ex.ID, true, b.Start)
	e.presence(b.Room, ex.ID, false, b.End)
	e.at(b.End)
	got := e.bookingOf(cl, b.ID)
	wantEq(t, "status", got.Status, control.StatusCompleted)
	wantEq(t, "paid", e.paid(cl), 5000)
	wantEq(t, "pending", e.balances()[control.AccountExpertPending(ex.ID)], 4500)
}

func TestSettle_APT7_ExpertJoinedFullPriceElseRefund(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	joined := e.appointment(ex, cl, t0.Add(5*time.Hour), 5000)
	absent := e.appointment(ex, cl, t0.Add(7*time.Hour), 3000)
	// The expert joins for 30 seconds only: the full price is still due.
	e.presence(joined.Room, ex.ID, true, joined.Start.Add(10*time.Minute))
	e.presence(joined.Room, ex.ID, false, joined.Start.Add(10*time.Minute+30*time.Second))
	// Only the client shows up to the other one.
	e.presence(absent.Room, cl.ID, true, absent.Start)
	e.at(absent.End.Add(time.Minute))
	wantEq(t, "joined charged", e.bookingOf(cl, joined.ID).Charged, true)
	ab := e.bookingOf(cl, absent.ID)
	wantEq(t, "absent charged", ab.Charged, false)
	wantEq(t, "absent outcome", ab.Outcome, "expert_absent")
	wantEq(t, "paid", e.paid(cl), 5000)
	e.checkLedger()
}
