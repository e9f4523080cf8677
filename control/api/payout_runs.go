package api

func (s *server) payoutRuns(r *request) (any, error) {
	return s.svc.PayoutRuns(r.ctx(), r.user.ID, 0)
}
