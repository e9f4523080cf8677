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

// NoticePreview is a notice as its recipient would read it.
type NoticePreview struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

type noticeView struct {
	Notice  control.Notice `json:"notice"`
	Preview NoticePreview  `json:"preview"`
}

func (s *server) notice(r *request) (any, error) {
	n, err := s.svc.Notice(r.ctx(), r.user.ID, r.param("id"))
	if err != nil {
		return nil, err
	}
	v := noticeView{Notice: n}
	if s.render != nil {
		if v.Preview, err = s.render(n); err != nil {
			s.log.Error("notice preview failed", "notice", n.ID, "err", err)
		}
	}
	return v, nil
}
