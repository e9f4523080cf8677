package control

import (
	"strconv"
	"time"
)

// effects collects what a transaction asks to do after it commits (gateway
// calls). It is reset at the start of each run of the transaction function.
type effects struct {
	outbox []string
}

// chargeToEscrow records the client's payment into the booking's escrow.
func chargeToEscrow(tx Tx, now time.Time, b *Booking) error {
	return transfer(tx, now, AccountClient(b.ClientID), AccountEscrow(b.ID), b.PaidCents, "charge", b.ID, b.ChargeID)
}

// refundTo moves amount from an internal account to the client and queues
// the gateway refund, keyed by the journal sequence so it is unique.
func refundTo(tx Tx, now time.Time, fx *effects, b *Booking, from string, amount int64, reason, ref string) error {
	if amount <= 0 {
		return nil
	}
	if err := transfer(tx, now, from, AccountClient(b.ClientID), amount, reason, b.ID, ref); err != nil {
		return err
	}
	id := "refund_" + b.ID + "_" + strconv.FormatInt(getInt(tx, bMeta, "journal_seq"), 10)
	fx.outbox = append(fx.outbox, id)
	return queueOutbox(tx, outboxCall{ID: id, Op: "refund", Account: AccountClient(b.ClientID),
		ChargeID: b.ChargeID, Amount: amount, Currency: b.Policy.Currency})
}

// refundAll returns everything still in escrow to the client: the booking
// ends without charge (APT-5, APT-6 early cancel, APT-7 no expert, EVT-5,
// EVT-6, EVT-8, ACC-3).
func refundAll(tx Tx, now time.Time, fx *effects, b *Booking, outcome string) error {
	amt := balance(tx, AccountEscrow(b.ID))
	if err := refundTo(tx, now, fx, b, AccountEscrow(b.ID), amt, outcome, ""); err != nil {
		return err
	}
	b.RefundedCents += amt
	b.Charged = false
	b.SettledAt = now
	b.Outcome = outcome
	return nil
}

// settleCharged releases escrow to the expert's pending earnings and the
// platform (PAY-2) and opens the claim window from claimBase (CLM-2).
func settleCharged(tx Tx, now time.Time, b *Booking, claimBase time.Time, outcome string) error {
	if err := transfer(tx, now, AccountEscrow(b.ID), AccountExpertPending(b.ExpertID), b.ExpertShare, "settle", b.ID, ""); err != nil {
		return err
	}
	if err := transfer(tx, now, AccountEscrow(b.ID), AccountPlatformRevenue, b.PlatformPart, "settle", b.ID, ""); err != nil {
		return err
	}
	b.Charged = true
	b.SettledAt = now
	b.Outcome = outcome
	b.ClaimUntil = claimBase.Add(b.Policy.ClaimWindow)
	return addDue(tx, b.ClaimUntil, dueRelease, b.ID)
}

// claimRefund refunds amount of a settled booking through a claim (CLM-3),
// reversing the split in proportion (PAY-4). The expert's part comes from
// pending earnings, or from payable ones once released (CLM-5); what the
// expert no longer holds is covered by the platform so that no payable
// balance goes negative.
func claimRefund(tx Tx, now time.Time, fx *effects, b *Booking, amount int64, ref string) error {
	remaining := b.PaidCents - b.RefundedCents
	if amount <= 0 {
		return Errorf(Invalid, "invalid_amount", "the refund must be a positive number of cents")
	}
	if amount > remaining {
		return &Error{Kind: Rule, Code: "refund_exceeds_paid", Field: "amount_cents",
			Message: "the refund cannot exceed what was paid minus what was already refunded (" + strconv.FormatInt(remaining, 10) + " cents)"}
	}
	total := b.RefundedCents + amount
	platCum, _ := split(total, b.Policy.PlatformShareBasisPts)
	platCum = min(platCum, b.PlatformPart)
	platNow := platCum - b.PlatformRef
	expNow := amount - platNow
	if err := refundTo(tx, now, fx, b, AccountPlatformRevenue, platNow, "claim_refund_platform", ref); err != nil {
		return err
	}
	if b.ReleasedAt.IsZero() {
		if err := refundTo(tx, now, fx, b, AccountExpertPending(b.ExpertID), expNow, "claim_refund_expert", ref); err != nil {
			return err
		}
	} else {
		fromPayable := min(expNow, max(balance(tx, AccountExpertPayable(b.ExpertID)), 0))
		if err := refundTo(tx, now, fx, b, AccountExpertPayable(b.ExpertID), fromPayable, "claim_refund_expert", ref); err != nil {
			return err
		}
		if err := refundTo(tx, now, fx, b, AccountPlatformRevenue, expNow-fromPayable, "claim_refund_platform_covers", ref); err != nil {
			return err
		}
	}
	b.RefundedCents = total
	b.PlatformRef = platCum
	b.ExpertRefund += expNow
	return nil
}

// release makes the expert's remaining share of a booking payable (PAY-5).
func release(tx Tx, now time.Time, b *Booking) error {
	if !b.ReleasedAt.IsZero() || !b.Charged {
		return nil
	}
	amt := b.ExpertShare - b.ExpertRefund
	if err := transfer(tx, now, AccountExpertPending(b.ExpertID), AccountExpertPayable(b.ExpertID), amt, "release", b.ID, ""); err != nil {
		return err
	}
	b.ReleasedAt = now
	return nil
}
