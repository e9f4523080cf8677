package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"atlas11/control"
)

// A private feed shows the owner's confirmed bookings (an expert's hosted
// events too) under the invitations' UIDs; a new feed revokes the old URL,
// a revoked one answers 404, and a booking's own file is only for its
// parties.
func TestCalendar_FeedRotatesRevokesAndShowsOnlyTheOwnersItems(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	other := e.signUp(control.RoleClient)
	bk := cl.book(ex.slot(t0.Add(72*time.Hour), 2000).ID)
	var ev control.Event
	ex.post("/events", map[string]any{"title": "Atelier, aquarelle; débutants", "start": t0.Add(96 * time.Hour), "minutes": 60,
		"price_cents": 900, "min_participants": 1, "max_participants": 5}).want(http.StatusCreated).decode(&ev)

	var f1, f2, fx calendarFeedView
	cl.post("/me/calendar-feed", nil).want(http.StatusCreated).decode(&f1)
	cl.post("/me/calendar-feed", nil).want(http.StatusCreated).decode(&f2)
	ex.post("/me/calendar-feed", nil).want(http.StatusCreated).decode(&fx)
	anon := e.anon()
	anon.get(strings.TrimPrefix(f1.Path, Prefix)).wantErr(http.StatusNotFound, "feed_not_found")
	r := anon.get(strings.TrimPrefix(f2.Path, Prefix)).want(http.StatusOK)
	body := string(r.body)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/calendar") || strings.Count(body, "BEGIN:VEVENT") != 1 ||
		!strings.Contains(body, "UID:"+bk.ID+"@atlas11") || !strings.Contains(body, "METHOD:PUBLISH") {
		t.Fatalf("client feed:\n%s", body)
	}
	xb := string(anon.get(strings.TrimPrefix(fx.Path, Prefix)).want(http.StatusOK).body)
	if strings.Count(xb, "BEGIN:VEVENT") != 2 || !strings.Contains(xb, "UID:"+ev.ID+"@atlas11") || !strings.Contains(xb, `Atelier\, aquarelle\; débutants`) {
		t.Fatalf("expert feed:\n%s", xb)
	}
	cl.do("DELETE", "/me/calendar-feed", nil).want(http.StatusNoContent)
	anon.get(strings.TrimPrefix(f2.Path, Prefix)).wantErr(http.StatusNotFound, "feed_not_found")
	anon.get("/calendar/not-a-feed").wantErr(http.StatusNotFound, "feed_not_found")
	anon.get("/calendar/"+strings.Repeat("a", 300)+".ics").wantErr(http.StatusNotFound, "feed_not_found")

	one := cl.get("/bookings/" + bk.ID + "/calendar.ics").want(http.StatusOK)
	if !strings.Contains(one.header.Get("Content-Disposition"), "attachment") || !strings.Contains(string(one.body), "UID:"+bk.ID+"@atlas11") {
		t.Fatalf("booking file: %s\n%s", one.header, one.body)
	}
	ex.get("/bookings/" + bk.ID + "/calendar.ics").want(http.StatusOK)
	other.get("/bookings/"+bk.ID+"/calendar.ics").wantErr(http.StatusNotFound, "booking_not_found")
	anon.get("/bookings/"+bk.ID+"/calendar.ics").wantErr(http.StatusUnauthorized, "not_signed_in")
}
