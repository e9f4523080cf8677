package control_test

import (
	"testing"
	"time"

	"atlas11/control"
)

// poison overwrites one stored record in the real bbolt file with bytes
// that are not JSON, as a torn write or a bad migration would, and returns
// what was there.
func (e *env) poison(bucket, key string) []byte {
	e.t.Helper()
	var old []byte
	if err := e.db.Update(func(tx control.Tx) error {
		old = tx.Get(bucket, []byte(key))
		return tx.Put(bucket, []byte(key), []byte("\x00{not json"))
	}); err != nil {
		e.t.Fatal(err)
	}
	if old == nil {
		e.t.Fatalf("%s/%s: nothing to poison", bucket, key)
	}
	return old
}

func (e *env) restore(bucket, key string, val []byte) {
	e.t.Helper()
	if err := e.db.Update(func(tx control.Tx) error { return tx.Put(bucket, []byte(key), val) }); err != nil {
		e.t.Fatal(err)
	}
}

// failedJobs lists the failed jobs of one kind: a damaged booking fails
// its reminder too.
func (e *env) failedJobs(op control.User, kind string) []control.FailedJob {
	e.t.Helper()
	jobs, err := e.svc.FailedJobs(e.ctx, op.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []control.FailedJob
	for _, j := range jobs {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

func (e *env) jobStats() control.JobStats {
	e.t.Helper()
	st, err := e.svc.JobStats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// A damaged booking used to make every run of the due work fail at the same
// job, so nothing after it ran, payouts included. Now its job is retried
// with back-off and dead-lettered, while the other settlements, the claim
// windows and the payout run go on; once repaired, an operator's retry
// settles it exactly once.
func TestJobs_PoisonedBookingIsDeadLetteredWhileOthersSettleAndPayoutsRun(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	good := e.appointment(ex, cl, t0.Add(2*time.Hour), 6000)
	bad := e.appointment(ex, cl, t0.Add(4*time.Hour), 7000)
	for _, b := range []control.Booking{good, bad} {
		e.presence(b.Room, ex.ID, true, b.Start)
		e.presence(b.Room, ex.ID, false, b.End)
	}
	e.at(bad.Start.Add(-30 * time.Minute)) // its reminder is sent before the damage
	saved := e.poison("bookings", bad.ID)

	// Past both ends: the good one settles, the bad one fails on its own.
	e.at(bad.End.Add(time.Second))
	wantEq(t, "good settled", e.bookingOf(cl, good.ID).Status, control.StatusCompleted)
	jobs := e.failedJobs(op, "settle")
	wantEq(t, "failed jobs", len(jobs), 1)
	wantEq(t, "failed target", jobs[0].Target, bad.ID)
	wantEq(t, "first attempt", jobs[0].Attempts, 1)
	wantEq(t, "not dead yet", jobs[0].Dead, false)
	if jobs[0].LastError == "" || !jobs[0].NextAttempt.After(e.clock.Now()) {
		t.Fatalf("failure record %+v: want an error and a later attempt", jobs[0])
	}
	st := e.jobStats()
	wantEq(t, "retrying", st.Retrying, 1)
	wantEq(t, "dead", st.DeadLetter, 0)

	// Each attempt waits longer; after the last one the job is dead-lettered
	// and is not run again by itself.
	prev := jobs[0].NextAttempt.Sub(jobs[0].LastFailedAt)
	for i := 2; i <= 8; i++ {
		e.at(jobs[0].NextAttempt)
		jobs = e.failedJobs(op, "settle")
		wantEq(t, "attempts", jobs[0].Attempts, i)
		if i < 8 {
			wait := jobs[0].NextAttempt.Sub(jobs[0].LastFailedAt)
			if wait <= prev {
				t.Fatalf("attempt %d: back-off %v after %v, want it to grow", i, wait, prev)
			}
			prev = wait
		}
	}
	wantEq(t, "dead-lettered", jobs[0].Dead, true)
	wantEq(t, "dead has no next attempt", jobs[0].NextAttempt.IsZero(), true)
	st = e.jobStats()
	wantEq(t, "dead count", st.DeadLetter, 1)
	wantEq(t, "retrying count", st.Retrying, 0)

	// The claim window closes and the payout run pays the good booking.
	paris, _ := time.LoadLocation("Europe/Paris")
	e.at(time.Date(2026, 1, 16, 0, 0, 1, 0, paris))
	wantEq(t, "paid around the poison", e.balances()[control.AccountExpertPaid(ex.ID)], 5400)
	wantEq(t, "still one dead job", len(e.failedJobs(op, "settle")), 1)
	if st := e.jobStats(); st.Overdue != 0 {
		t.Fatalf("queue after the run: %+v, want nothing overdue", st)
	}

	// Only operators see and act on failed jobs.
	if _, err := e.svc.FailedJobs(e.ctx, ex.ID); control.ErrorKind(err) != control.Forbidden {
		t.Fatalf("an expert listed failed jobs: %v", err)
	}
	if _, err := e.svc.RetryJob(e.ctx, cl.ID, jobs[0].ID); control.ErrorKind(err) != control.Forbidden {
		t.Fatalf("a client retried a job: %v", err)
	}
	_, err := e.svc.RetryJob(e.ctx, op.ID, "bm90IGEgam9i")
	wantCode(t, err, "job_not_found")
	wantCode(t, e.svc.ResolveJob(e.ctx, op.ID, "%%%"), "job_not_found")

	// Retried while still damaged: a fresh series of attempts starts.
	if _, err := e.svc.RetryJob(e.ctx, op.ID, jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	jobs = e.failedJobs(op, "settle")
	wantEq(t, "fresh series", jobs[0].Attempts, 1)
	wantEq(t, "alive again", jobs[0].Dead, false)

	// Repaired and retried: settled exactly once, nothing left failed.
	e.restore("bookings", bad.ID, saved)
	if _, err := e.svc.RetryJob(e.ctx, op.ID, jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	e.runDue()
	wantEq(t, "bad settled", e.bookingOf(cl, bad.ID).Status, control.StatusCompleted)
	wantEq(t, "no failed jobs", len(e.failedJobs(op, "settle")), 0)
	wantEq(t, "client paid both", e.paid(cl), 13000)
	e.checkLedger()
}

// An operator who handled a job by other means resolves it: its record and
// its queue entry go, and it never runs again.
func TestJobs_ResolvedJobNeverRunsAgain(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(2*time.Hour), 6000)
	e.at(b.Start.Add(-30 * time.Minute)) // its reminder is sent before the damage
	saved := e.poison("bookings", b.ID)
	e.at(b.End.Add(time.Second))
	jobs := e.failedJobs(op, "settle")
	wantEq(t, "failed", len(jobs), 1)
	before := e.jobStats().Due
	if err := e.svc.ResolveJob(e.ctx, op.ID, jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	wantEq(t, "queue entry gone", e.jobStats().Due, before-1)
	wantCode(t, e.svc.ResolveJob(e.ctx, op.ID, jobs[0].ID), "job_not_found")
	e.restore("bookings", b.ID, saved)
	e.at(b.End.Add(24 * time.Hour))
	wantEq(t, "no failed jobs", len(e.failedJobs(op, "settle")), 0)
	wantEq(t, "left as it was", e.bookingOf(cl, b.ID).Status, control.StatusConfirmed)
}

// One expert's unreadable profile no longer holds back everyone's payout:
// the others are paid on the day, theirs becomes a job of its own, and once
// the profile is repaired a retry pays it exactly once, on that run's date.
func TestJobs_PayoutOfAnUnreadableProfileIsItsOwnJob(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ana, ben, cl := e.expert("Ana"), e.expert("Ben"), e.client("Bob")
	e.delivered(ana, cl, t0.Add(2*time.Hour), 6000)
	e.delivered(ben, cl, t0.Add(4*time.Hour), 8000)
	e.at(t0.Add(5 * 24 * time.Hour)) // claim windows closed
	saved := e.poison("profiles", ben.ID)

	paris, _ := time.LoadLocation("Europe/Paris")
	e.at(time.Date(2026, 1, 16, 0, 0, 1, 0, paris))
	bal := e.balances()
	wantEq(t, "ana paid", bal[control.AccountExpertPaid(ana.ID)], 5400)
	wantEq(t, "ben not paid", bal[control.AccountExpertPaid(ben.ID)], 0)
	e.runDue() // the next tick runs the payout job the run queued
	jobs := e.failedJobs(op, "payout")
	wantEq(t, "failed", len(jobs), 1)
	wantEq(t, "kind", jobs[0].Kind, "payout")
	wantEq(t, "target", jobs[0].Target, ben.ID+"/2026-01-16")

	e.restore("profiles", ben.ID, saved)
	if _, err := e.svc.RetryJob(e.ctx, op.ID, jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	e.runDue()
	wantEq(t, "ben paid", e.balances()[control.AccountExpertPaid(ben.ID)], 7200)
	wantEq(t, "no failed jobs", len(e.failedJobs(op, "payout")), 0)
	list, err := e.svc.Payouts(e.ctx, ben.ID, ben.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "one payout", len(list), 1)
	wantEq(t, "its run date", list[0].RunDate, "2026-01-16")
	payouts := 0
	for _, c := range e.gw.Calls() {
		if c.Op == "payout" {
			payouts++
		}
	}
	wantEq(t, "gateway payouts", payouts, 2)
	e.checkLedger()
}
