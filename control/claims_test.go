package control_test

import (
	"testing"
	"time"

	"atlas11/control"
)

// delivered books and settles an appointment the expert attended.
func (e *env) delivered(ex, cl control.User, start time.Time, price int64) control.Booking {
	e.t.Helper()
	b := e.appointment(ex, cl, start, price)
	e.presence(b.Room, ex.ID, true, b.Start)
	e.presence(b.Room, ex.ID, false, b.End)
	e.at(b.End)
	return e.bookingOf(cl, b.ID)
}

func TestClaim_CLM1_OpenedByTheClientWithAReason(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 5000)
	_, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "  ")
	wantCode(t, err, "reason_required")
	_, err = e.svc.OpenClaim(e.ctx, e.client("Mallory").ID, b.ID, "not mine")
	wantCode(t, err, "booking_not_found")
	_, err = e.svc.OpenClaim(e.ctx, ex.ID, b.ID, "expert")
	wantCode(t, err, "role_forbidden")
	c, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "The sound was broken")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "status", c.Status, control.ClaimOpen)
	_, err = e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "again")
	wantCode(t, err, "claim_exists")
	// Evidence: the expert's presence is attached.
	got, err := e.svc.Claim(e.ctx, ex.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "presence", got.Presence.Total, time.Hour)
	_, err = e.svc.Claim(e.ctx, e.client("Mallory").ID, c.ID)
	wantCode(t, err, "claim_not_found")
}

func TestClaim_CLM2_Within72hOfEndOrLateCancellation(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 5000)
	late := e.delivered(ex, cl, t0.Add(4*time.Hour), 5000)
	e.at(b.End.Add(72*time.Hour - time.Second))
	if _, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "in time"); err != nil {
		t.Fatal(err)
	}
	e.at(late.End.Add(72 * time.Hour))
	_, err := e.svc.OpenClaim(e.ctx, cl.ID, late.ID, "too late")
	wantCode(t, err, "claim_window_closed")

	// A late cancellation: the window runs from the cancellation.
	future := e.appointment(ex, cl, e.clock.Now().Add(24*time.Hour), 5000)
	cancelled, err := e.svc.CancelBooking(e.ctx, cl.ID, future.ID, "c")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "claim until", cancelled.ClaimUntil, e.clock.Now().Add(72*time.Hour))
	e.at(cancelled.CancelledAt.Add(71 * time.Hour))
	if _, err := e.svc.OpenClaim(e.ctx, cl.ID, future.ID, "please"); err != nil {
		t.Fatal(err)
	}
	// Before the end there is nothing to claim yet.
	soon := e.appointment(ex, cl, e.clock.Now().Add(100*time.Hour), 5000)
	_, err = e.svc.OpenClaim(e.ctx, cl.ID, soon.ID, "early")
	wantCode(t, err, "claim_too_early")
}

// CLM-3: an expert cannot refund a client who has not opened a claim.
func TestClaim_CLM3_RefundsOnlyThroughClaims(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 5000)
	// There is no way for the expert to refund a settled booking without a claim.
	_, err := e.svc.CancelBooking(e.ctx, ex.ID, b.ID, "x")
	wantCode(t, err, "booking_not_active")
	_, err = e.svc.RespondClaim(e.ctx, ex.ID, "no-such-claim", control.ClaimResponse{Kind: control.RespondFullRefund})
	wantCode(t, err, "claim_not_found")
	wantEq(t, "paid", e.paid(cl), 5000)
}

func TestClaim_CLM4_FullPartialDeclineAcceptReject(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	open := func(start time.Time) (control.Booking, control.Claim) {
		b := e.delivered(ex, cl, start, 5000)
		c, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "problem")
		if err != nil {
			t.Fatal(err)
		}
		return b, c
	}
	// Partial refund, never more than paid minus refunded.
	_, c := open(t0.Add(2 * time.Hour))
	_, err := e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 5001})
	wantCode(t, err, "refund_exceeds_paid")
	_, err = e.svc.RespondClaim(e.ctx, e.expert("Other").ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 10})
	wantCode(t, err, "claim_not_found")
	before := e.paid(cl)
	c, err = e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 2000, IdempotencyKey: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	// A repeat of the same request moves nothing.
	if _, err := e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 2000, IdempotencyKey: "r1"}); err != nil {
		t.Fatal(err)
	}
	// PAY-7: the same key with another amount is refused, not answered with the first.
	_, err = e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 3000, IdempotencyKey: "r1"})
	wantCode(t, err, "idempotency_key_reused")
	wantEq(t, "refunded", before-e.paid(cl), 2000)
	c, err = e.svc.AcceptClaim(e.ctx, cl.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "status", c.Status, control.ClaimResolved)

	// Full refund.
	_, c2 := open(t0.Add(4 * time.Hour))
	before = e.paid(cl)
	if _, err := e.svc.RespondClaim(e.ctx, ex.ID, c2.ID, control.ClaimResponse{Kind: control.RespondFullRefund}); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "full refund", before-e.paid(cl), 5000)

	// Decline needs a message; the client rejects: escalated.
	_, c3 := open(t0.Add(6 * time.Hour))
	_, err = e.svc.RespondClaim(e.ctx, ex.ID, c3.ID, control.ClaimResponse{Kind: control.RespondDecline})
	wantCode(t, err, "message_required")
	_, err = e.svc.AcceptClaim(e.ctx, cl.ID, c3.ID)
	wantCode(t, err, "claim_not_answered")
	if _, err := e.svc.RespondClaim(e.ctx, ex.ID, c3.ID, control.ClaimResponse{Kind: control.RespondDecline, Message: "It worked for me"}); err != nil {
		t.Fatal(err)
	}
	c3, err = e.svc.RejectClaim(e.ctx, cl.ID, c3.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "status", c3.Status, control.ClaimEscalated)
	e.checkLedger()
}

func TestClaim_CLM5_OperatorDecidesFromPayableEarnings(t *testing.T) {
	e := newEnv(t)
	ex, cl, op := e.expert("Ana"), e.client("Bob"), e.operator()
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 10000)
	c, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "bad")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondDecline, Message: "no"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RejectClaim(e.ctx, cl.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	// While escalated, the claim window closes: the money stays pending (PAY-5).
	e.at(b.End.Add(80 * time.Hour))
	bal := e.balances()
	wantEq(t, "pending", bal[control.AccountExpertPending(ex.ID)], 9000)
	wantEq(t, "payable", bal[control.AccountExpertPayable(ex.ID)], 0)
	queue, err := e.svc.Claims(e.ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "queue", len(queue), 1)
	_, err = e.svc.DecideClaim(e.ctx, ex.ID, c.ID, control.ClaimDecision{RefundCents: 100, Message: "m"})
	wantCode(t, err, "role_forbidden")
	_, err = e.svc.DecideClaim(e.ctx, op.ID, c.ID, control.ClaimDecision{RefundCents: 10001, Message: "m"})
	wantCode(t, err, "refund_exceeds_paid")
	c, err = e.svc.DecideClaim(e.ctx, op.ID, c.ID, control.ClaimDecision{RefundCents: 4000, Message: "half-ish", IdempotencyKey: "d"})
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "status", c.Status, control.ClaimDecided)
	bal = e.balances()
	wantEq(t, "client paid", e.paid(cl), 6000)
	wantEq(t, "payable after decision", bal[control.AccountExpertPayable(ex.ID)], 5400)
	wantEq(t, "platform", bal[control.AccountPlatformRevenue], 600)

	e.checkLedger()
}

func TestClaim_CLM6_ThreeEscalationsIn90DaysFlagged(t *testing.T) {
	e := newEnv(t)
	ex, cl, op := e.expert("Ana"), e.client("Bob"), e.operator()
	escalate := func(start time.Time) {
		b := e.delivered(ex, cl, start, 5000)
		c, err := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "bad")
		if err != nil {
			t.Fatal(err)
		}
		e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondDecline, Message: "no"})
		if _, err := e.svc.RejectClaim(e.ctx, cl.ID, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	flags := func() int {
		f, err := e.svc.Flags(e.ctx, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(f)
	}
	escalate(t0.Add(2 * time.Hour))
	e.at(t0.Add(50 * 24 * time.Hour))
	escalate(e.clock.Now().Add(2 * time.Hour))
	wantEq(t, "flags after 2", flags(), 0)
	// The first escalation is now more than 90 days old: still two in the window.
	e.at(t0.Add(95 * 24 * time.Hour))
	escalate(e.clock.Now().Add(2 * time.Hour))
	wantEq(t, "flags after 2 in window", flags(), 0)
	escalate(e.clock.Now().Add(4 * time.Hour))
	wantEq(t, "flags after 3 in window", flags(), 1)
	// The operator may then close the account (ACC-3).
	if err := e.svc.CloseAccount(e.ctx, op.ID, ex.ID); err != nil {
		t.Fatal(err)
	}
	f, _ := e.svc.Flags(e.ctx, op.ID)
	wantEq(t, "closed", f[0].Closed, true)
}
