package control_test

import (
	"sync"
	"testing"
	"time"

	"atlas11/control"
)

func TestSplit_PAY2_PlatformTenPercentRoundedHalfUp(t *testing.T) {
	for _, tc := range []struct{ price, platform, expert int64 }{
		{5000, 500, 4500},
		{1005, 101, 904}, // 100.5 rounds up
		{1004, 100, 904}, // 100.4 rounds down
		{1015, 102, 913}, // 101.5 rounds up
		{999, 100, 899},  // 99.9
	} {
		e := newEnv(t)
		st := control.DefaultSettings()
		st.MinPrices = control.MinPrices{Video: 1, Audio: 1, Chat: 1, Event: 1}
		e = newEnvSettings(t, st)
		ex, cl := e.expert("Ana"), e.client("Bob")
		b := e.delivered(ex, cl, t0.Add(2*time.Hour), tc.price)
		wantEq(t, "platform share", b.PlatformPart, tc.platform)
		wantEq(t, "expert share", b.ExpertShare, tc.expert)
		bal := e.balances()
		wantEq(t, "platform revenue", bal[control.AccountPlatformRevenue], tc.platform)
		wantEq(t, "expert pending", bal[control.AccountExpertPending(ex.ID)], tc.expert)
		e.checkLedger()
	}
}

func TestRefund_PAY4_ReversesTheSplitInProportion(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 10050) // platform 1005, expert 9045
	c, _ := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "bad")
	if _, err := e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 3005}); err != nil {
		t.Fatal(err)
	}
	bal := e.balances()
	wantEq(t, "platform after refund", bal[control.AccountPlatformRevenue], int64(1005-301)) // 300.5 -> 301
	wantEq(t, "expert after refund", bal[control.AccountExpertPending(ex.ID)], int64(9045-2704))
	e.svc.RejectClaim(e.ctx, cl.ID, c.ID)
	op := e.operator()
	// The operator refunds the rest: both sides end exactly at zero.
	if _, err := e.svc.DecideClaim(e.ctx, op.ID, c.ID, control.ClaimDecision{RefundCents: 10050 - 3005, Message: "all"}); err != nil {
		t.Fatal(err)
	}
	bal = e.balances()
	wantEq(t, "platform", bal[control.AccountPlatformRevenue], 0)
	wantEq(t, "expert", bal[control.AccountExpertPending(ex.ID)], 0)
	wantEq(t, "client", e.paid(cl), 0)
	e.checkLedger()
}

func TestRelease_PAY5_PayableAfterClaimWindowWithoutOpenClaim(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	quiet := e.delivered(ex, cl, t0.Add(2*time.Hour), 5000)
	claimed := e.delivered(ex, cl, t0.Add(4*time.Hour), 5000)
	c, _ := e.svc.OpenClaim(e.ctx, cl.ID, claimed.ID, "bad")
	e.at(quiet.End.Add(72*time.Hour - time.Second))
	wantEq(t, "payable before window end", e.balances()[control.AccountExpertPayable(ex.ID)], 0)
	e.at(claimed.End.Add(72 * time.Hour))
	bal := e.balances()
	wantEq(t, "payable", bal[control.AccountExpertPayable(ex.ID)], 4500)
	wantEq(t, "pending held by claim", bal[control.AccountExpertPending(ex.ID)], 4500)
	// Closing the claim after the window releases what is left.
	e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 1000})
	if _, err := e.svc.AcceptClaim(e.ctx, cl.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	bal = e.balances()
	wantEq(t, "payable after claim", bal[control.AccountExpertPayable(ex.ID)], 4500+3600)
	wantEq(t, "pending after claim", bal[control.AccountExpertPending(ex.ID)], 0)
	earn, err := e.svc.Earnings(e.ctx, ex.ID, ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "earnings payable", earn.Payable, 8100)
	_, err = e.svc.Earnings(e.ctx, e.expert("Other").ID, ex.ID)
	wantCode(t, err, "not_yours")
	e.checkLedger()
}

func TestPayout_PAY6_FirstAndSixteenthThresholdBillingRollover(t *testing.T) {
	e := newEnv(t)
	rich, poor, nobill := e.expert("Rich"), e.expert("Poor"), e.user(control.RoleExpert, "NoBill")
	cl := e.client("Bob")
	e.delivered(rich, cl, t0.Add(2*time.Hour), 6000)   // 5400 payable
	e.delivered(poor, cl, t0.Add(4*time.Hour), 5000)   // 4500 < 5000 threshold
	e.delivered(nobill, cl, t0.Add(6*time.Hour), 9000) // no billing details
	e.at(t0.Add(5 * 24 * time.Hour))                   // Jan 10: claim windows closed
	earn, _ := e.svc.Earnings(e.ctx, rich.ID, rich.ID)
	paris, _ := time.LoadLocation("Europe/Paris")
	wantEq(t, "next payout", earn.NextPayout, time.Date(2026, 1, 16, 0, 0, 0, 0, paris).UTC())
	// Just before midnight in Paris on the 16th: nothing yet.
	e.at(time.Date(2026, 1, 15, 23, 59, 0, 0, paris))
	wantEq(t, "paid early", e.balances()[control.AccountExpertPaid(rich.ID)], 0)
	e.at(time.Date(2026, 1, 16, 0, 0, 1, 0, paris))
	bal := e.balances()
	wantEq(t, "rich paid", bal[control.AccountExpertPaid(rich.ID)], 5400)
	wantEq(t, "rich payable", bal[control.AccountExpertPayable(rich.ID)], 0)
	wantEq(t, "poor rolls over", bal[control.AccountExpertPayable(poor.ID)], 4500)
	wantEq(t, "no billing rolls over", bal[control.AccountExpertPayable(nobill.ID)], 8100)
	payouts := 0
	for _, c := range e.gw.Calls() {
		if c.Op == "payout" {
			payouts++
		}
	}
	wantEq(t, "gateway payouts", payouts, 1)
	// Running again the same day pays nothing twice.
	e.at(time.Date(2026, 1, 16, 12, 0, 0, 0, paris))
	wantEq(t, "rich paid once", e.balances()[control.AccountExpertPaid(rich.ID)], 5400)
	// Poor earns more and is paid on the 1st.
	e.delivered(poor, cl, time.Date(2026, 1, 20, 10, 0, 0, 0, paris), 1000)
	e.at(time.Date(2026, 2, 1, 0, 30, 0, 0, paris))
	wantEq(t, "poor paid on the 1st", e.balances()[control.AccountExpertPaid(poor.ID)], 5400)
	list, err := e.svc.Payouts(e.ctx, poor.ID, poor.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "payouts listed", len(list), 1)
	wantEq(t, "run date", list[0].RunDate, "2026-02-01")
	// Operators see the runs, newest first, each with its total.
	runs, err := e.svc.PayoutRuns(e.ctx, e.operator().ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "runs", len(runs), 2)
	wantEq(t, "newest run", runs[0].RunDate, "2026-02-01")
	wantEq(t, "newest run total", runs[0].TotalCents, 5400)
	wantEq(t, "older run", runs[1].RunDate, "2026-01-16")
	wantEq(t, "older run expert", runs[1].Payouts[0].ExpertID, rich.ID)
	if _, err := e.svc.PayoutRuns(e.ctx, rich.ID, 0); control.ErrorKind(err) != control.Forbidden {
		t.Fatalf("an expert listed every payout run: %v", err)
	}
	e.checkLedger()
}

func TestIdempotency_PAY7_FiftyRetriesOneCharge(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	sl := e.slot(ex, t0.Add(72*time.Hour), 60, 5000)
	var wg sync.WaitGroup
	ids := make([]string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID, IdempotencyKey: "same-key"})
			if err != nil {
				t.Errorf("retry %d: %v", i, err)
				return
			}
			ids[i] = b.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		wantEq(t, "same booking", id, ids[0])
	}
	wantEq(t, "gateway calls", len(e.gw.Calls()), 1)
	wantEq(t, "paid", e.paid(cl), 5000)
	j, _ := e.svc.Journal(e.ctx)
	wantEq(t, "journal entries", len(j), 1)
	e.checkLedger()
}

func TestLedger_PAY7_JournalBalancedAndBalancesDerived(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.delivered(ex, cl, t0.Add(2*time.Hour), 5000)
	e.appointment(ex, cl, t0.Add(100*time.Hour), 3000)
	c, _ := e.svc.OpenClaim(e.ctx, cl.ID, b.ID, "x")
	e.svc.RespondClaim(e.ctx, ex.ID, c.ID, control.ClaimResponse{Kind: control.RespondPartialRefund, AmountCents: 777})
	j, err := e.svc.Journal(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	derived := map[string]int64{}
	for i, tr := range j {
		if tr.Amount <= 0 || tr.Seq != uint64(i+1) {
			t.Fatalf("bad transfer %+v", tr)
		}
		derived[tr.From] -= tr.Amount
		derived[tr.To] += tr.Amount
	}
	var sum int64
	for acct, n := range e.balances() {
		wantEq(t, acct, n, derived[acct])
		sum += n
	}
	wantEq(t, "sum", sum, 0)
	e.checkLedger()
}

func TestPayment_DeclinedChargeReleasesTheHold(t *testing.T) {
	e := newEnv(t)
	ex, cl := e.expert("Ana"), e.client("Bob")
	sl := e.slot(ex, t0.Add(72*time.Hour), 60, 5000)
	e.gw.SetDecline(cl.ID, true)
	_, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID, IdempotencyKey: "k"})
	wantCode(t, err, "payment_declined")
	// The same request keeps its first answer.
	_, err = e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: sl.ID, IdempotencyKey: "k"})
	wantCode(t, err, "payment_declined")
	// The slot is free again for someone else.
	e.book(e.client("Cy"), sl.ID)
	wantEq(t, "paid", e.paid(cl), 0)
	e.checkLedger()
}

func TestPolicy_BookingKeepsTheRulesItWasMadeUnder(t *testing.T) {
	st := control.DefaultSettings()
	e := newEnvSettings(t, st)
	ex, cl := e.expert("Ana"), e.client("Bob")
	b := e.appointment(ex, cl, t0.Add(100*time.Hour), 5000)
	wantEq(t, "cancel window", b.Policy.ClientCancelWindow, 48*time.Hour)
	wantEq(t, "claim window", b.Policy.ClaimWindow, 72*time.Hour)
	// Restart the service with a 24 h cancel window: the booking keeps 48 h.
	st.ClientCancelWindow = 24 * time.Hour
	svc, err := control.NewService(control.Config{Store: e.db, Gateway: e.gw, Clock: e.clock, Settings: st,
		CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.at(b.Start.Add(-30 * time.Hour))
	got, err := e.svc.CancelBooking(e.ctx, cl.ID, b.ID, "c")
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "charged under the old 48 h policy", got.Charged, true)
}
