package control

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// split returns the platform's and the expert's share of amount (PAY-2): the
// platform's rounded half up, the expert the rest, so they add up exactly.
func split(amount int64, basisPts int) (platform, expert int64) {
	platform = (amount*int64(basisPts) + 5000) / 10000
	return platform, amount - platform
}

// transfer appends one balanced journal entry and updates the derived
// balances in the same transaction (PAY-7). A zero amount is a no-op.
func transfer(tx Tx, now time.Time, from, to string, amount int64, reason, bookingID, ref string) error {
	if amount == 0 {
		return nil
	}
	if amount < 0 || from == to {
		return fmt.Errorf("ledger: bad transfer %d from %s to %s", amount, from, to)
	}
	seq := uint64(getInt(tx, bMeta, "journal_seq")) + 1
	if err := putInt(tx, bMeta, "journal_seq", int64(seq)); err != nil {
		return err
	}
	t := Transfer{Seq: seq, At: now, From: from, To: to, Amount: amount, Reason: reason, BookingID: bookingID, Ref: ref}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := tx.Put(bJournal, k[:], b); err != nil {
		return err
	}
	if err := putInt(tx, bBalances, from, getInt(tx, bBalances, from)-amount); err != nil {
		return err
	}
	return putInt(tx, bBalances, to, getInt(tx, bBalances, to)+amount)
}

func balance(tx Tx, account string) int64 { return getInt(tx, bBalances, account) }

// outboxCall is a gateway call recorded in the same transaction as its
// ledger effect and made after commit; RunDue retries it until it succeeds.
// Its ID is the gateway idempotency key.
type outboxCall struct {
	ID       string `json:"id"`
	Op       string `json:"op"` // refund, payout
	Account  string `json:"account"`
	ChargeID string `json:"charge_id,omitempty"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	PayoutID string `json:"payout_id,omitempty"`
}

func queueOutbox(tx Tx, c outboxCall) error { return putJSON(tx, bOutbox, c.ID, c) }

// flushOutbox makes the queued gateway calls; failures stay queued for
// RunDue. It returns how many calls completed.
func (s *Service) flushOutbox(ctx context.Context, ids []string) int {
	done := 0
	for _, id := range ids {
		var c outboxCall
		var found bool
		err := s.view(func(tx Tx) error {
			var err error
			found, err = getJSON(tx, bOutbox, id, &c)
			return err
		})
		if err != nil || !found {
			continue
		}
		var res GatewayResult
		switch c.Op {
		case "refund":
			res, err = s.gateway.Refund(ctx, RefundRequest{Key: c.ID, ChargeID: c.ChargeID,
				CustomerID: strings.TrimPrefix(c.Account, "external:client:"), AmountCents: c.Amount, Currency: c.Currency})
		case "payout":
			var p Payout
			var billing BillingDetails
			_ = s.view(func(tx Tx) error {
				if prof, err := loadProfile(tx, c.Account); err == nil && prof.Billing != nil {
					billing = *prof.Billing
				}
				_, err := getJSON(tx, bPayouts, c.PayoutID, &p)
				return err
			})
			res, err = s.gateway.Payout(ctx, PayoutRequest{Key: c.ID, ExpertID: c.Account, AmountCents: c.Amount,
				Currency: c.Currency, Billing: billing})
		default:
			err = fmt.Errorf("unknown outbox op %q", c.Op)
		}
		if err != nil {
			s.log.Warn("gateway call failed, will retry", "op", c.Op, "id", c.ID, "err", err)
			continue
		}
		err = s.update(func(tx Tx) error {
			if c.Op == "payout" && c.PayoutID != "" {
				var p Payout
				if ok, err := getJSON(tx, bPayouts, c.PayoutID, &p); err != nil || !ok {
					return err
				}
				p.GatewayID = res.ID
				if err := putJSON(tx, bPayouts, p.ID, p); err != nil {
					return err
				}
			}
			return tx.Delete(bOutbox, []byte(c.ID))
		})
		if err == nil {
			done++
		}
	}
	return done
}

func pendingOutbox(tx Tx) ([]string, error) {
	var ids []string
	err := tx.Scan(bOutbox, nil, nil, func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	})
	return ids, err
}

// Balances returns every ledger account balance (credits minus debits).
func (s *Service) Balances(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.view(func(tx Tx) error {
		return tx.Scan(bBalances, nil, nil, func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = int64(binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
	return out, internalOrNil(err)
}

// Journal returns the whole append-only journal in order.
func (s *Service) Journal(ctx context.Context) ([]Transfer, error) {
	var out []Transfer
	err := s.view(func(tx Tx) error {
		return tx.Scan(bJournal, nil, nil, func(_, v []byte) error {
			var t Transfer
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, internalOrNil(err)
}

// VerifyLedger recomputes every balance from the journal and checks it
// against the stored balances, that every transfer is positive and that all
// balances sum to zero.
func (s *Service) VerifyLedger(ctx context.Context) error {
	return internalOrNil(s.view(func(tx Tx) error {
		derived := map[string]int64{}
		var last uint64
		err := tx.Scan(bJournal, nil, nil, func(_, v []byte) error {
			var t Transfer
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			if t.Amount <= 0 || t.From == t.To || t.From == "" || t.To == "" {
				return fmt.Errorf("ledger: transfer %d is not a positive move between two accounts", t.Seq)
			}
			if t.Seq != last+1 {
				return fmt.Errorf("ledger: journal sequence jumps from %d to %d", last, t.Seq)
			}
			last = t.Seq
			derived[t.From] -= t.Amount
			derived[t.To] += t.Amount
			return nil
		})
		if err != nil {
			return err
		}
		var sum int64
		stored := map[string]int64{}
		err = tx.Scan(bBalances, nil, nil, func(k, v []byte) error {
			n := int64(binary.BigEndian.Uint64(v))
			stored[string(k)] = n
			sum += n
			return nil
		})
		if err != nil {
			return err
		}
		if sum != 0 {
			return fmt.Errorf("ledger: balances sum to %d, not zero", sum)
		}
		for a, n := range derived {
			if stored[a] != n {
				return fmt.Errorf("ledger: %s stored %d, journal says %d", a, stored[a], n)
			}
		}
		for a, n := range stored {
			if derived[a] != n {
				return fmt.Errorf("ledger: %s stored %d, journal says %d", a, n, derived[a])
			}
		}
		return nil
	}))
}

func internalOrNil(err error) error {
	if err == nil {
		return nil
	}
	return internal(err)
}

// Earnings returns an expert's escrow, pending, payable, paid and next
// payout date: to the expert and operators.
func (s *Service) Earnings(ctx context.Context, actorID, expertID string) (Earnings, error) {
	st := s.Settings()
	now := s.clock.Now()
	var e Earnings
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		if u.Role != RoleOperator && u.ID != expertID {
			return Errorf(Forbidden, "not_yours", "you can only see your own earnings")
		}
		p, err := loadProfile(tx, expertID)
		if err != nil {
			return err
		}
		e = Earnings{ExpertID: expertID, Pending: balance(tx, AccountExpertPending(expertID)),
			Payable: balance(tx, AccountExpertPayable(expertID)), Paid: balance(tx, AccountExpertPaid(expertID)),
			Threshold: st.PayoutThresholdCents, HasBilling: p.Billing != nil && p.Billing.Complete(),
			Currency: st.Currency, NextPayout: nextPayoutDate(st, now)}
		add := func(b Booking) {
			if b.Status == StatusConfirmed && b.SettledAt.IsZero() {
				e.Escrow += b.ExpertShare
			}
		}
		err = scanPrefix(tx, bUserItems, expertID+"/", func(k, _ []byte) error {
			b, err := loadBooking(tx, string(k[len(expertID)+1+8:]))
			if err == nil {
				add(b)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return scanPrefix(tx, bExpEvents, expertID+"/", func(k, _ []byte) error {
			eventID := string(k[len(expertID)+1+8:])
			return scanPrefix(tx, bEventRegs, eventID+"/", func(_, v []byte) error {
				if b, err := loadBooking(tx, string(v)); err == nil {
					add(b)
				}
				return nil
			})
		})
	})
	return e, err
}

// Payouts lists an expert's payouts: to the expert and operators.
func (s *Service) Payouts(ctx context.Context, actorID, expertID string) ([]Payout, error) {
	var out []Payout
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		if u.Role != RoleOperator && u.ID != expertID {
			return Errorf(Forbidden, "not_yours", "you can only see your own payouts")
		}
		return scanPrefix(tx, bExpPay, expertID+"/", func(k, _ []byte) error {
			var p Payout
			if ok, err := getJSON(tx, bPayouts, string(k[len(expertID)+1+8:]), &p); err != nil || !ok {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// nextPayoutDate is the first payout day at or after now, at local midnight
// in the platform time zone (PAY-6).
func nextPayoutDate(st Settings, now time.Time) time.Time {
	loc, err := time.LoadLocation(st.PlatformTimeZone)
	if err != nil {
		loc = time.UTC
	}
	l := now.In(loc)
	for i := 0; i < 64; i++ {
		d := time.Date(l.Year(), l.Month(), l.Day()+i, 0, 0, 0, 0, loc)
		for _, pd := range st.PayoutDays {
			if d.Day() == pd && !d.Before(now) {
				return d.UTC()
			}
		}
	}
	return time.Time{}
}

// lastPayoutDate is the latest payout day at or before now (PAY-6).
func lastPayoutDate(st Settings, now time.Time) time.Time {
	loc, err := time.LoadLocation(st.PlatformTimeZone)
	if err != nil {
		loc = time.UTC
	}
	l := now.In(loc)
	for i := 0; i < 64; i++ {
		d := time.Date(l.Year(), l.Month(), l.Day()-i, 0, 0, 0, 0, loc)
		for _, pd := range st.PayoutDays {
			if d.Day() == pd && !d.After(now) {
				return d
			}
		}
	}
	return time.Time{}
}

// PayoutRuns lists every payout, grouped by run date (newest run first), for
// operators watching the twice-monthly runs (PAY-6). At most limit payouts
// are returned, newest first.
func (s *Service) PayoutRuns(ctx context.Context, operatorID string, limit int) ([]PayoutRun, error) {
	if limit <= 0 || limit > 5000 {
		limit = 5000
	}
	var all []Payout
	err := s.view(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		return tx.Scan(bPayouts, nil, nil, func(k, v []byte) error {
			var p Payout
			if ok, err := getJSON(tx, bPayouts, string(k), &p); err != nil || !ok {
				return err
			}
			all = append(all, p)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].RunDate != all[j].RunDate {
			return all[i].RunDate > all[j].RunDate
		}
		return all[i].ExpertID < all[j].ExpertID
	})
	if len(all) > limit {
		all = all[:limit]
	}
	runs := []PayoutRun{}
	for _, p := range all {
		if n := len(runs); n == 0 || runs[n-1].RunDate != p.RunDate {
			runs = append(runs, PayoutRun{RunDate: p.RunDate})
		}
		r := &runs[len(runs)-1]
		r.Payouts = append(r.Payouts, p)
		r.TotalCents += p.AmountCents
	}
	return runs, nil
}
