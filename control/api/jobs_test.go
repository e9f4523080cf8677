package api

import (
	"net/http"
	"testing"
	"time"

	"atlas11/control"
)

// poison overwrites one record in the real bbolt file with bytes that are
// not JSON, as a torn write or a bad migration would, and returns what was
// there.
func (e *env) poison(bucket, key string) []byte {
	e.t.Helper()
	var old []byte
	if err := e.db.Update(func(tx control.Tx) error {
		old = tx.Get(bucket, []byte(key))
		return tx.Put(bucket, []byte(key), []byte("{torn"))
	}); err != nil || old == nil {
		e.t.Fatalf("poison %s/%s: %v (had %d bytes)", bucket, key, err, len(old))
	}
	return old
}

func (e *env) restore(bucket, key string, val []byte) {
	e.t.Helper()
	if err := e.db.Update(func(tx control.Tx) error { return tx.Put(bucket, []byte(key), val) }); err != nil {
		e.t.Fatal(err)
	}
}

// A booking record damaged in the real bbolt file: the operator sees its
// job failing and then dead-lettered through the API, while the queue goes
// on, and retries it once it is repaired. Only operators see or act on it.
func TestOperator_FailedJobsRetryAndResolveThroughHTTP(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	s := ex.slot(t0.Add(72*time.Hour), 2000)
	bk := cl.book(s.ID)
	op.post("/sim/clock", map[string]any{"set": s.Start.Add(-30 * time.Minute)}).want(http.StatusOK) // reminders out first
	saved := e.poison("bookings", bk.ID)
	op.post("/sim/clock", map[string]any{"set": s.End.Add(time.Minute)}).want(http.StatusOK)

	var v jobsView
	op.get("/operator/jobs").want(http.StatusOK).decode(&v)
	if len(v.Failed) != 1 || v.Failed[0].Target != bk.ID || v.Failed[0].Attempts != 1 || v.Retrying != 1 || v.DeadLetter != 0 {
		t.Fatalf("after one failure: %+v", v)
	}
	id := v.Failed[0].ID
	for range 8 { // the back-off never exceeds six hours
		op.post("/sim/clock", map[string]any{"advance": "6h"}).want(http.StatusOK)
	}
	op.get("/operator/jobs").want(http.StatusOK).decode(&v)
	if len(v.Failed) != 1 || !v.Failed[0].Dead || v.DeadLetter != 1 || v.Overdue != 0 {
		t.Fatalf("after the retries: %+v", v)
	}

	ex.get("/operator/jobs").wantErr(http.StatusForbidden, "role_required")
	cl.post("/operator/jobs/"+id+"/retry", nil).wantErr(http.StatusForbidden, "role_required")
	e.anon().post("/operator/jobs/"+id+"/resolve", nil).wantErr(http.StatusUnauthorized, "not_signed_in")
	op.post("/operator/jobs/bm90LWEtam9i/retry", nil).wantErr(http.StatusNotFound, "job_not_found")
	op.post("/operator/jobs/%25%25/resolve", nil).wantErr(http.StatusNotFound, "job_not_found")

	e.restore("bookings", bk.ID, saved)
	var fj control.FailedJob
	op.post("/operator/jobs/"+id+"/retry", nil).want(http.StatusOK).decode(&fj)
	if fj.Dead || fj.Attempts != 0 {
		t.Fatalf("retried: %+v", fj)
	}
	op.post("/sim/clock", map[string]any{"advance": "1s"}).want(http.StatusOK)
	op.get("/operator/jobs").want(http.StatusOK).decode(&v)
	if len(v.Failed) != 0 {
		t.Fatalf("after the repaired retry: %+v", v)
	}
	var got control.Booking
	cl.get("/bookings/" + bk.ID).want(http.StatusOK).decode(&got)
	if got.Status == control.StatusConfirmed {
		t.Fatalf("the repaired booking was not settled: %+v", got)
	}
	op.post("/operator/jobs/"+id+"/resolve", nil).wantErr(http.StatusNotFound, "job_not_found")
	if err := e.svc.VerifyLedger(t.Context()); err != nil {
		t.Fatal(err)
	}
}
