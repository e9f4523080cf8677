package control_test

import (
	"testing"
	"time"

	"atlas11/control"
)

// Users' records are memoised by their stored bytes on the write path. A
// client who has just booked (record memoised) and is then closed must be
// refused on the very next write and read (ACC-3): a changed record is
// never served from the memo.
func TestUserMemo_ACC3_ClosedAccountRefusedRightAfterAWrite(t *testing.T) {
	e := newEnv(t)
	ex := e.expert("Eve")
	cl := e.client("Bob")
	first := e.slot(ex, t0.Add(48*time.Hour), 60, 5000)
	next := e.slot(ex, t0.Add(50*time.Hour), 60, 5000)
	e.book(cl, first.ID)
	if _, err := e.svc.Bookings(e.ctx, cl.ID, t0, t0.Add(100*time.Hour)); err != nil {
		t.Fatal(err)
	}

	if err := e.svc.CloseAccount(e.ctx, e.operator().ID, cl.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: next.ID, IdempotencyKey: "after-close"})
	wantCode(t, err, "account_closed")
	_, err = e.svc.Bookings(e.ctx, cl.ID, t0, t0.Add(100*time.Hour))
	wantCode(t, err, "account_closed")
}
