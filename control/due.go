package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// settleAppointment settles a confirmed appointment after its end (APT-7):
// if the expert joined the call at all, the full price is due whatever the
// length; if the expert never joined, the client is refunded. A client
// no-show pays in full (APT-6).
func settleAppointment(tx Tx, now time.Time, fx *effects, b *Booking) error {
	if b.Status != StatusConfirmed {
		return nil
	}
	p, err := expertPresence(tx, b.Room, b.ExpertID, b.Start, b.End, b.Policy.RoomOpensBefore, now)
	if err != nil {
		return err
	}
	b.Status = StatusCompleted
	if err := delDue(tx, b.End, dueSettle, b.ID); err != nil {
		return err
	}
	if len(p.Intervals) == 0 {
		return refundAll(tx, now, fx, b, "expert_absent")
	}
	return settleCharged(tx, now, b, b.End, "delivered")
}

// eventStart applies EVT-5: under the minimum at start, the event is
// cancelled and nobody is charged.
func eventStart(tx Tx, now time.Time, fx *effects, e *Event) error {
	if e.Status != EventScheduled || e.Registered >= e.MinParticipants {
		return nil
	}
	return cancelEventTx(tx, now, fx, e, "under_minimum")
}

// eventEnd applies EVT-6: with the expert present less than the threshold
// in total, no client is charged; otherwise every registration is charged.
func eventEnd(tx Tx, now time.Time, fx *effects, e *Event) error {
	if e.Status != EventScheduled {
		return nil
	}
	p, err := expertPresence(tx, e.ID, e.ExpertID, e.Start, e.End, e.Policy.RoomOpensBefore, now)
	if err != nil {
		return err
	}
	present := p.Total >= e.Policy.ExpertPresenceMin
	regs, err := eventBookings(tx, e.ID)
	if err != nil {
		return err
	}
	for _, b := range regs {
		if b.Status != StatusConfirmed {
			continue
		}
		b.Status = StatusCompleted
		if present {
			err = settleCharged(tx, now, &b, e.End, "delivered")
		} else {
			err = refundAll(tx, now, fx, &b, "expert_absent")
		}
		if err != nil {
			return err
		}
		if err := saveBooking(tx, now, b); err != nil {
			return err
		}
	}
	e.Status = EventCompleted
	e.Outcome = "delivered"
	if !present {
		e.Outcome = "expert_absent"
		if err := refundLateCancellers(tx, now, fx, e.ID, "expert_absent"); err != nil {
			return err
		}
	}
	return putJSON(tx, bEvents, e.ID, *e)
}

// claimOpen reports whether the booking has a claim still in progress.
func claimOpen(tx Tx, bookingID string) (bool, error) {
	id := tx.Get(bMeta, []byte("claim_of/"+bookingID))
	if id == nil {
		return false, nil
	}
	c, err := loadClaim(tx, string(id))
	if err != nil {
		return false, err
	}
	return c.Status == ClaimOpen || c.Status == ClaimResponded || c.Status == ClaimEscalated, nil
}

// RunDue does all work due at Clock.Now(): retries or releases stale payment
// holds, settles appointments and events after their end (APT-6, APT-7,
// EVT-6), cancels events under their minimum at start (EVT-5), closes claim
// windows (PAY-5), runs payouts (PAY-6) and retries gateway refunds and
// payouts. It returns the number of jobs done. Safe to run concurrently and
// repeatedly: each job checks and removes its queue entry in the same
// transaction as its effect, so no job is ever done twice.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	now := s.clock.Now()
	done := 0
	tried := map[string]bool{} // a job left queued (gateway down, record not writable) waits for the next run
	for round := 0; round < 100; round++ {
		var keys []string
		err := s.view(func(tx Tx) error {
			return tx.Scan(bDue, nil, []byte(ts(now.Add(time.Second))), func(k, _ []byte) error {
				if tried[string(k)] {
					return nil
				}
				keys = append(keys, string(k))
				if len(keys) >= 500 {
					return ErrStopScan
				}
				return nil
			})
		})
		if err != nil {
			return done, internal(err)
		}
		if len(keys) == 0 {
			break
		}
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			tried[k] = true
			n, err := s.runJob(ctx, now, k)
			if err != nil {
				if ctx.Err() != nil {
					return done, ctx.Err()
				}
				s.jobFailed(now, k, err) // this job only: the others go on
				continue
			}
			done += n
		}
	}
	n, err := s.runPayouts(ctx, now)
	done += n
	if err != nil {
		return done, err
	}
	var ids []string
	if err := s.view(func(tx Tx) error {
		var err error
		ids, err = pendingOutbox(tx)
		return err
	}); err != nil {
		return done, internal(err)
	}
	done += s.flushOutbox(ctx, ids)
	if s.mailer != nil {
		n, err := s.DeliverNotices(ctx, s.mailer)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// runJob does one queued job. Payment holds are retried outside any
// transaction (the charge is idempotent by booking ID).
func (s *Service) runJob(ctx context.Context, now time.Time, key string) (int, error) {
	kind, id, _ := strings.Cut(key[8:], "/")
	if kind == dueHold {
		var b Booking
		err := s.view(func(tx Tx) error {
			var err error
			b, err = loadBooking(tx, id)
			return err
		})
		if err != nil && ErrorKind(err) != NotFound {
			return 0, err
		}
		if err == nil && b.Status == StatusPendingPayment {
			if _, err := s.pay(ctx, heldBooking{b: b}); err != nil && ErrorKind(err) == Internal {
				return 0, nil // gateway unavailable: the hold stays queued
			}
		}
		return 1, s.update(func(tx Tx) error {
			if err := jobSucceeded(tx, kind, id); err != nil {
				return err
			}
			return tx.Delete(bDue, []byte(key))
		})
	}
	var fx effects
	did := 0
	err := s.update(func(tx Tx) error {
		fx, did = effects{}, 0
		if tx.Get(bDue, []byte(key)) == nil {
			return nil // done by a concurrent run
		}
		did = 1
		if err := tx.Delete(bDue, []byte(key)); err != nil {
			return err
		}
		if err := jobSucceeded(tx, kind, id); err != nil { // undone with the rest if the job fails
			return err
		}
		switch kind {
		case duePayout:
			expert, day, _ := strings.Cut(id, "/")
			d, err := time.Parse("2006-01-02", day)
			if err != nil {
				return fmt.Errorf("payout job %q: %w", id, err)
			}
			_, err = payoutOne(tx, now, s.Settings(), &fx, expert, d)
			return err
		case dueSession:
			return tx.Delete(bSessions, []byte(id))
		case dueReminder:
			return remind(tx, now, id)
		case dueReset:
			return tx.Delete(bResets, []byte(id))
		case dueVerify:
			return tx.Delete(bVerify, []byte(id))
		case dueSettle, dueRelease:
			b, err := loadBooking(tx, id)
			if ErrorKind(err) == NotFound {
				return nil
			}
			if err != nil {
				return err
			}
			if kind == dueSettle {
				if err := settleAppointment(tx, now, &fx, &b); err != nil {
					return err
				}
			} else {
				open, err := claimOpen(tx, b.ID)
				if err != nil || open {
					return err // an open claim releases when it closes
				}
				if err := release(tx, now, &b); err != nil {
					return err
				}
			}
			return saveBooking(tx, now, b)
		case dueEventStart, dueEventEnd:
			e, err := loadEvent(tx, id)
			if ErrorKind(err) == NotFound {
				return nil
			}
			if err != nil {
				return err
			}
			if kind == dueEventStart {
				return eventStart(tx, now, &fx, &e)
			}
			return eventEnd(tx, now, &fx, &e)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.flushOutbox(ctx, fx.outbox)
	return did, nil
}

// runPayouts pays out, once per payout day (PAY-6), every expert whose
// payable balance reaches the threshold and who gave billing details;
// smaller balances roll over to the next run.
func (s *Service) runPayouts(ctx context.Context, now time.Time) (int, error) {
	st := s.Settings()
	day := lastPayoutDate(st, now)
	if day.IsZero() {
		return 0, nil
	}
	marker := "payout_run/" + day.Format("2006-01-02")
	var fx effects
	paid := 0
	err := s.update(func(tx Tx) error {
		fx, paid = effects{}, 0
		if tx.Get(bMeta, []byte(marker)) != nil {
			return nil
		}
		var experts []string
		err := tx.Scan(bBalances, []byte("expert:"), prefixEnd("expert:"), func(k, v []byte) error {
			acct := string(k)
			if !strings.HasSuffix(acct, ":payable") {
				return nil
			}
			if amt := getInt(tx, bBalances, acct); amt >= st.PayoutThresholdCents && amt > 0 {
				experts = append(experts, strings.TrimSuffix(strings.TrimPrefix(acct, "expert:"), ":payable"))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, expert := range experts {
			ok, err := payoutOne(tx, now, st, &fx, expert, day)
			var unreadable *unreadableProfile
			if errors.As(err, &unreadable) {
				// One expert's damaged record must not hold back everyone's
				// payout: theirs becomes a job of its own, retried and
				// dead-lettered like any other.
				if err := addDue(tx, now, duePayout, expert+"/"+day.Format("2006-01-02")); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if ok {
				paid++
			}
		}
		return tx.Put(bMeta, []byte(marker), nil)
	})
	if err != nil {
		return 0, err
	}
	s.flushOutbox(ctx, fx.outbox)
	return paid, nil
}

// unreadableProfile is a payout's failure to read the expert's profile.
type unreadableProfile struct{ err error }

func (e *unreadableProfile) Error() string { return "payout: " + e.err.Error() }
func (e *unreadableProfile) Unwrap() error { return e.err }

// payoutOne pays out one expert's payable balance for the payout day if it
// reaches the threshold and billing details are given; it reports whether a
// payout was made. The payout ID is derived from the expert and the day, so
// running it again for the same day pays nothing twice.
func payoutOne(tx Tx, now time.Time, st Settings, fx *effects, expert string, day time.Time) (bool, error) {
	amount := getInt(tx, bBalances, AccountExpertPayable(expert))
	if amount < st.PayoutThresholdCents || amount <= 0 {
		return false, nil
	}
	p, err := loadProfile(tx, expert)
	if err != nil {
		return false, &unreadableProfile{err}
	}
	if p.Billing == nil || !p.Billing.Complete() {
		return false, nil // rolls over until billing details are given
	}
	po := Payout{ID: "po_" + expert + "_" + day.Format("20060102"), ExpertID: expert,
		AmountCents: amount, RunDate: day.Format("2006-01-02"), At: now}
	if tx.Get(bPayouts, []byte(po.ID)) != nil {
		return false, nil
	}
	if err := transfer(tx, now, AccountExpertPayable(expert), AccountExpertPaid(expert), amount, "payout", "", po.ID); err != nil {
		return false, err
	}
	if err := putJSON(tx, bPayouts, po.ID, po); err != nil {
		return false, err
	}
	if err := tx.Put(bExpPay, []byte(expert+"/"+ts(now)+po.ID), nil); err != nil {
		return false, err
	}
	fx.outbox = append(fx.outbox, po.ID)
	if err := payoutNotice(tx, now, po, st.Currency); err != nil {
		return false, err
	}
	return true, queueOutbox(tx, outboxCall{ID: po.ID, Op: "payout", Account: expert,
		Amount: amount, Currency: st.Currency, PayoutID: po.ID})
}
