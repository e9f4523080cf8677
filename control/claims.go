package control

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// claimKeyScope scopes idempotency keys of claim actions.
func claimKeyScope(op, claimID string) string { return op + "/" + claimID }

// ensureSettled settles a confirmed booking whose end has passed but which
// RunDue has not reached yet, so claims never wait on the background loop.
func ensureSettled(tx Tx, now time.Time, fx *effects, b *Booking) error {
	if b.Status != StatusConfirmed || now.Before(b.End) || b.Kind != KindAppointment {
		return nil
	}
	return settleAppointment(tx, now, fx, b)
}

// OpenClaim opens a claim on the acting client's booking, within the claim
// window of its end or late cancellation (CLM-1, CLM-2).
func (s *Service) OpenClaim(ctx context.Context, actorID, bookingID, reason string) (Claim, error) {
	now := s.clock.Now()
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Claim{}, fieldErr("reason", "reason_required", "explain the problem in 1 to %d characters", MaxClaimTextLen)
	}
	if err := checkText("reason", reason, MaxClaimTextLen, true); err != nil {
		return Claim{}, err
	}
	id := newID()
	var c Claim
	var fx effects
	err := s.update(func(tx Tx) error {
		fx = effects{}
		u, err := actor(tx, actorID, RoleClient)
		if err != nil {
			return err
		}
		b, err := loadBooking(tx, bookingID)
		if err != nil {
			return err
		}
		if b.ClientID != u.ID {
			return Errorf(NotFound, "booking_not_found", "no such booking")
		}
		if b.Status == StatusConfirmed && now.Before(b.End) {
			return Errorf(Rule, "claim_too_early", "a claim can be opened once the appointment has ended")
		}
		if tx.Get(bMeta, []byte("claim_of/"+b.ID)) != nil {
			return Errorf(Conflict, "claim_exists", "a claim is already open for this booking")
		}
		// Check on a copy: settling here writes, and refusals must come first.
		probe := b
		if probe.Status == StatusConfirmed && probe.Kind == KindAppointment {
			probe.Charged, probe.ClaimUntil = true, probe.End.Add(probe.Policy.ClaimWindow)
		}
		if !probe.Charged || probe.PaidCents-probe.RefundedCents <= 0 {
			return Errorf(Rule, "nothing_to_claim", "nothing was charged for this booking")
		}
		if !now.Before(probe.ClaimUntil) {
			return Errorf(Rule, "claim_window_closed", "claims must be opened within %s", b.Policy.ClaimWindow)
		}
		if err := ensureSettled(tx, now, &fx, &b); err != nil {
			return err
		}
		if !b.Charged { // settlement refunded everything (expert absent)
			return saveBooking(tx, now, b)
		}
		c = Claim{ID: id, BookingID: b.ID, ClientID: b.ClientID, ExpertID: b.ExpertID, Reason: reason,
			Status: ClaimOpen, OpenedAt: now}
		if err := saveBooking(tx, now, b); err != nil {
			return err
		}
		if err := saveClaim(tx, now, c); err != nil {
			return err
		}
		if err := tx.Put(bMeta, []byte("claim_of/"+b.ID), []byte(c.ID)); err != nil {
			return err
		}
		if err := tx.Put(bUserClaim, []byte(c.ClientID+"/"+c.ID), nil); err != nil {
			return err
		}
		return tx.Put(bUserClaim, []byte(c.ExpertID+"/"+c.ID), nil)
	})
	if err == nil && c.ID == "" {
		s.flushOutbox(ctx, fx.outbox)
		return Claim{}, Errorf(Rule, "nothing_to_claim", "the expert never joined: you have been refunded in full")
	}
	if err == nil {
		s.flushOutbox(ctx, fx.outbox)
	}
	return c, err
}

// claimStep runs one claim transition in a transaction, with idempotency:
// a repeat of the same key returns the claim as it now is.
func (s *Service) claimStep(ctx context.Context, op, claimID string, key idem,
	fn func(tx Tx, now time.Time, fx *effects, c *Claim, b *Booking) error) (Claim, error) {
	now := s.clock.Now()
	var c Claim
	var fx effects
	err := s.update(func(tx Tx) error {
		fx = effects{}
		var err error
		c, err = loadClaim(tx, claimID)
		if err != nil {
			return err
		}
		key.scope = claimKeyScope(op, claimID)
		if done, err := key.get(tx); err != nil || done != "" {
			return err
		}
		b, err := loadBooking(tx, c.BookingID)
		if err != nil {
			return err
		}
		if err := fn(tx, now, &fx, &c, &b); err != nil {
			return err
		}
		if c.Status == ClaimResolved || c.Status == ClaimDecided {
			c.ClosedAt = now
			if !now.Before(b.ClaimUntil) { // PAY-5: the window closed during the claim
				if err := release(tx, now, &b); err != nil {
					return err
				}
			}
		}
		if err := key.put(tx, "done"); err != nil {
			return err
		}
		if err := saveBooking(tx, now, b); err != nil {
			return err
		}
		return saveClaim(tx, now, c)
	})
	if err == nil {
		s.flushOutbox(ctx, fx.outbox)
	}
	return c, err
}

// RespondClaim is the expert's action on an open claim: full refund, partial
// refund (never more than paid minus refunded) or decline with a message
// (CLM-3, CLM-4). The refund moves at once.
func (s *Service) RespondClaim(ctx context.Context, actorID, claimID string, r ClaimResponse) (Claim, error) {
	r.Message = strings.TrimSpace(r.Message)
	switch r.Kind {
	case RespondFullRefund, RespondPartialRefund:
	case RespondDecline:
		if r.Message == "" {
			return Claim{}, fieldErr("message", "message_required", "explain why you decline")
		}
	default:
		return Claim{}, fieldErr("kind", "invalid_response", "respond with full_refund, partial_refund or decline")
	}
	if err := checkText("message", r.Message, MaxClaimTextLen, true); err != nil {
		return Claim{}, err
	}
	return s.claimStep(ctx, "respond", claimID, idem{key: r.IdempotencyKey,
		request: fmt.Sprintf("kind=%s amount=%d message=%q", r.Kind, r.AmountCents, r.Message)}, func(tx Tx, now time.Time, fx *effects, c *Claim, b *Booking) error {
		if _, err := actor(tx, actorID, RoleExpert); err != nil {
			return err
		}
		if c.ExpertID != actorID {
			return Errorf(NotFound, "claim_not_found", "no such claim")
		}
		if c.Status != ClaimOpen {
			return Errorf(Conflict, "claim_not_open", "this claim has already been answered")
		}
		amount := int64(0)
		switch r.Kind {
		case RespondFullRefund:
			amount = b.PaidCents - b.RefundedCents
		case RespondPartialRefund:
			amount = r.AmountCents
		}
		if r.Kind != RespondDecline {
			if err := claimRefund(tx, now, fx, b, amount, c.ID); err != nil {
				return err
			}
		}
		c.Status, c.Response, c.ResponseMessage, c.RespondedAt = ClaimResponded, r.Kind, r.Message, now
		c.ExpertRefund = amount
		return nil
	})
}

// AcceptClaim is the client's agreement with the expert's response: resolved.
func (s *Service) AcceptClaim(ctx context.Context, actorID, claimID string) (Claim, error) {
	return s.claimStep(ctx, "accept", claimID, idem{}, func(tx Tx, now time.Time, fx *effects, c *Claim, b *Booking) error {
		if _, err := actor(tx, actorID, RoleClient); err != nil {
			return err
		}
		if c.ClientID != actorID {
			return Errorf(NotFound, "claim_not_found", "no such claim")
		}
		if c.Status == ClaimResolved {
			return nil
		}
		if c.Status != ClaimResponded {
			return Errorf(Conflict, "claim_not_answered", "the expert has not answered yet")
		}
		c.Status = ClaimResolved
		return nil
	})
}

// RejectClaim is the client's disagreement: the claim escalates to the
// platform (CLM-5) and counts towards the expert's flag (CLM-6). A claim the
// expert left unanswered for a whole claim window may be escalated too.
func (s *Service) RejectClaim(ctx context.Context, actorID, claimID string) (Claim, error) {
	st := s.Settings()
	return s.claimStep(ctx, "reject", claimID, idem{}, func(tx Tx, now time.Time, fx *effects, c *Claim, b *Booking) error {
		if _, err := actor(tx, actorID, RoleClient); err != nil {
			return err
		}
		if c.ClientID != actorID {
			return Errorf(NotFound, "claim_not_found", "no such claim")
		}
		if c.Status == ClaimEscalated {
			return nil
		}
		unanswered := c.Status == ClaimOpen && !now.Before(c.OpenedAt.Add(b.Policy.ClaimWindow))
		if c.Status != ClaimResponded && !unanswered {
			return Errorf(Conflict, "claim_not_answered", "the expert has not answered yet")
		}
		c.Status, c.EscalatedAt = ClaimEscalated, now
		if err := tx.Put(bEscal, []byte(c.ExpertID+"/"+ts(now)+c.ID), nil); err != nil {
			return err
		}
		if err := tx.Put(bOpenEsc, []byte(c.ID), nil); err != nil {
			return err
		}
		if countEscalations(tx, c.ExpertID, now.Add(-st.EscalationWindow)) >= st.EscalationFlagCount { // CLM-6
			p, err := loadProfile(tx, c.ExpertID)
			if err != nil {
				return err
			}
			if !p.Flagged {
				p.Flagged = true
				return putJSON(tx, bProfiles, p.ExpertID, p)
			}
		}
		return nil
	})
}

// DecideClaim is an operator's decision on an escalated claim (CLM-5); the
// refund may come from the expert's earnings even if already payable.
func (s *Service) DecideClaim(ctx context.Context, operatorID, claimID string, d ClaimDecision) (Claim, error) {
	if d.RefundCents < 0 {
		return Claim{}, fieldErr("refund_cents", "invalid_amount", "the refund cannot be negative")
	}
	d.Message = strings.TrimSpace(d.Message)
	if d.Message == "" {
		return Claim{}, fieldErr("message", "message_required", "explain the decision in 1 to %d characters", MaxClaimTextLen)
	}
	if err := checkText("message", d.Message, MaxClaimTextLen, true); err != nil {
		return Claim{}, err
	}
	return s.claimStep(ctx, "decide", claimID, idem{key: d.IdempotencyKey,
		request: fmt.Sprintf("refund=%d message=%q", d.RefundCents, d.Message)}, func(tx Tx, now time.Time, fx *effects, c *Claim, b *Booking) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		if c.Status != ClaimEscalated {
			return Errorf(Conflict, "claim_not_escalated", "only escalated claims are decided by the platform")
		}
		if d.RefundCents > 0 {
			if err := claimRefund(tx, now, fx, b, d.RefundCents, c.ID); err != nil {
				return err
			}
		}
		c.Status, c.DecisionRefund, c.DecisionMessage, c.DecidedBy = ClaimDecided, d.RefundCents, d.Message, operatorID
		return tx.Delete(bOpenEsc, []byte(c.ID))
	})
}

// Claim returns a claim to its client, its expert or an operator, with the
// expert's presence as evidence (CALL-3).
func (s *Service) Claim(ctx context.Context, actorID, claimID string) (Claim, error) {
	now := s.clock.Now()
	var c Claim
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		c, err = loadClaim(tx, claimID)
		if err != nil {
			return err
		}
		if u.Role != RoleOperator && u.ID != c.ClientID && u.ID != c.ExpertID {
			return Errorf(NotFound, "claim_not_found", "no such claim")
		}
		return withEvidence(tx, now, &c)
	})
	return c, err
}

func withEvidence(tx Tx, now time.Time, c *Claim) error {
	b, err := loadBooking(tx, c.BookingID)
	if err != nil {
		return err
	}
	r, err := expertPresence(tx, b.Room, b.ExpertID, b.Start, b.End, b.Policy.RoomOpensBefore, now)
	if err != nil {
		return err
	}
	c.Presence = &r
	return nil
}

// Claims lists the actor's claims (client or expert); for operators, the
// escalated claims waiting for a decision.
func (s *Service) Claims(ctx context.Context, actorID string) ([]Claim, error) {
	now := s.clock.Now()
	out := []Claim{}
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		add := func(id string) error {
			c, err := loadClaim(tx, id)
			if err != nil {
				return err
			}
			if err := withEvidence(tx, now, &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		}
		if u.Role == RoleOperator {
			return tx.Scan(bOpenEsc, nil, nil, func(k, _ []byte) error { return add(string(k)) })
		}
		return scanPrefix(tx, bUserClaim, u.ID+"/", func(k, _ []byte) error { return add(string(k[len(u.ID)+1:])) })
	})
	return out, err
}
