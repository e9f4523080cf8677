package api

import (
	"net/http"
	"strings"

	"atlas11/control"
)

type calendarFeedView struct {
	// Path is the feed's URL on this server's origin; it carries the
	// secret and is shown once.
	Path string `json:"path"`
}

func (s *server) newCalendarFeed(r *request) (any, error) {
	token, err := s.svc.NewCalendarFeed(r.ctx(), r.user.ID)
	if err != nil {
		return nil, err
	}
	return calendarFeedView{Path: Prefix + "/calendar/" + token + ".ics"}, nil
}

func (s *server) revokeCalendarFeed(r *request) (any, error) {
	return nil, s.svc.RevokeCalendarFeed(r.ctx(), r.user.ID)
}

func (s *server) calendarFeed(r *request) (any, error) {
	token, ok := strings.CutSuffix(r.param("file"), ".ics")
	if !ok || s.calendar == nil {
		return nil, apiErr(control.NotFound, "feed_not_found", "", "no such calendar feed")
	}
	f, err := s.svc.CalendarFeedOf(r.ctx(), token)
	if err != nil {
		return nil, err
	}
	name := "Atlas11 – " + f.User.Name
	s.writeCalendar(r, s.calendar(f.User.Locale, name, f.Entries, s.svc.Clock().Now()), "")
	return nil, nil
}

func (s *server) bookingCalendar(r *request) (any, error) {
	if s.calendar == nil {
		return nil, apiErr(control.NotFound, "calendar_unavailable", "", "calendar files are not available")
	}
	e, u, err := s.svc.BookingCalendar(r.ctx(), r.user.ID, r.param("id"))
	if err != nil {
		return nil, err
	}
	s.writeCalendar(r, s.calendar(u.Locale, "Atlas11", []control.CalendarEntry{e}, s.svc.Clock().Now()), "atlas11-"+r.param("id")+".ics")
	return nil, nil
}

// writeCalendar answers with an iCalendar body; a file name makes it a
// download.
func (s *server) writeCalendar(r *request, ics []byte, file string) {
	r.c.Header("Content-Type", "text/calendar; charset=utf-8")
	r.c.Header("Cache-Control", "private, no-store")
	if file != "" {
		r.c.Header("Content-Disposition", `attachment; filename="`+file+`"`)
	}
	r.c.Status(http.StatusOK)
	_, _ = r.c.Writer.Write(ics)
}
