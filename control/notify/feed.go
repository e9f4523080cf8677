package notify

import (
	"strings"
	"time"

	"atlas11/control"
)

// Calendar is an iCalendar object (RFC 5545, METHOD:PUBLISH) of entries,
// for a subscribed feed or an "add to calendar" file, with each entry's
// summary in lang. The UIDs are the invitations' own, so a calendar that
// has both keeps one entry.
func (r *Renderer) Calendar(lang, name string, entries []control.CalendarEntry, now time.Time) []byte {
	if _, ok := r.text[lang]; !ok {
		lang = "fr"
	}
	lines := []string{
		"BEGIN:VCALENDAR",
		"PRODID:-//Atlas11//Atlas11//" + strings.ToUpper(lang),
		"VERSION:2.0",
		"CALSCALE:GREGORIAN",
		"METHOD:PUBLISH",
		"X-WR-CALNAME:" + icsText(name),
		"REFRESH-INTERVAL;VALUE=DURATION:PT1H",
	}
	for _, e := range entries {
		link := r.BaseURL + "/#/activity"
		if e.Expert && e.Kind == control.KindRegistration {
			link = r.BaseURL + "/#/expert/events"
		}
		lines = append(lines,
			"BEGIN:VEVENT",
			"UID:"+e.UID,
			"DTSTAMP:"+icsTime(now),
			"LAST-MODIFIED:"+icsTime(e.Updated),
			"DTSTART:"+icsTime(e.Start),
			"DTEND:"+icsTime(e.End),
			"SUMMARY:"+icsText(entrySummary(lang, e)),
			"DESCRIPTION:"+icsText(link),
			"LOCATION:"+icsText(r.BaseURL+"/#/call/"+e.Room),
			"URL:"+link,
			"STATUS:CONFIRMED",
			"TRANSP:OPAQUE",
			"END:VEVENT")
	}
	lines = append(lines, "END:VCALENDAR")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(fold(l))
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// entrySummary says what an entry is, as the "summary" template does for
// invitations.
func entrySummary(lang string, e control.CalendarEntry) string {
	with := e.ExpertName
	if e.Expert {
		with = e.ClientName
	}
	switch {
	case e.Kind == control.KindRegistration && lang == "en":
		return "Atlas11: " + e.Title
	case e.Kind == control.KindRegistration:
		return "Atlas11 : " + e.Title
	case lang == "en":
		return "Atlas11: appointment with " + with
	default:
		return "Atlas11 : rendez-vous avec " + with
	}
}
