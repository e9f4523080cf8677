package api

import (
	"atlas11/control"
)

func (s *server) notices(r *request) (any, error) {
	state := r.query("state")
	switch state {
	case "", control.NoticeQueued, control.NoticeRetrying, control.NoticeSent, control.NoticeFailed:
	default:
		return nil, apiErr(control.Invalid, "invalid_state", "state", "state: one of queued, retrying, sent, failed")
	}
	return s.svc.Notices(r.ctx(), r.user.ID, control.NoticeFilter{State: state, UserID: r.query("user")})
}

func (s *server) resendNotice(r *request) (any, error) {
	return s.svc.ResendNotice(r.ctx(), r.user.ID, r.param("id"))
}
