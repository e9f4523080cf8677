package api

import (
	"time"

	"atlas11/control"
)

// jobsView is the operator's view of the background work: how deep and how
// late the queue is, and every job that failed and has not succeeded since.
type jobsView struct {
	Due              int                 `json:"due"`
	Overdue          int                 `json:"overdue"`
	OldestDueSeconds int64               `json:"oldest_due_seconds"`
	Retrying         int                 `json:"retrying"`
	DeadLetter       int                 `json:"dead_letter"`
	Failed           []control.FailedJob `json:"failed"`
}

func (s *server) jobs(r *request) (any, error) {
	failed, err := s.svc.FailedJobs(r.ctx(), r.user.ID)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.JobStats(r.ctx())
	if err != nil {
		return nil, err
	}
	return jobsView{Due: st.Due, Overdue: st.Overdue, OldestDueSeconds: int64(st.OldestDue / time.Second),
		Retrying: st.Retrying, DeadLetter: st.DeadLetter, Failed: failed}, nil
}

func (s *server) retryJob(r *request) (any, error) {
	return s.svc.RetryJob(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) resolveJob(r *request) (any, error) {
	return nil, s.svc.ResolveJob(r.ctx(), r.user.ID, r.param("id"))
}
