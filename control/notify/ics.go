package notify

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"atlas11/control"
)

// invitation is the iCalendar object (RFC 5545) that a notice carries, with
// the iTIP method (RFC 5546): REQUEST adds or updates the entry, CANCEL, for
// the same UID and a higher SEQUENCE, removes it. Times are in UTC, so the
// entry lands at the right instant whatever the zones and their
// daylight-saving rules.
func (r *Renderer) invitation(n control.Notice, summary, link string) []byte {
	status := "CONFIRMED"
	if n.Calendar == control.CalCancel {
		status = "CANCELLED"
	}
	location := link
	if n.Room != "" {
		location = r.BaseURL + "/#/call/" + n.Room
	}
	lines := []string{
		"BEGIN:VCALENDAR",
		"PRODID:-//Atlas11//Atlas11//" + strings.ToUpper(n.Locale),
		"VERSION:2.0",
		"CALSCALE:GREGORIAN",
		"METHOD:" + n.Calendar,
		"BEGIN:VEVENT",
		"UID:" + n.CalUID,
		"SEQUENCE:" + strconv.Itoa(n.CalSequence),
		"DTSTAMP:" + icsTime(n.CreatedAt),
		"DTSTART:" + icsTime(n.Start),
		"DTEND:" + icsTime(n.End),
		"SUMMARY:" + icsText(summary),
		"DESCRIPTION:" + icsText(link),
		"LOCATION:" + icsText(location),
		"URL:" + link,
		"ORGANIZER;CN=Atlas11:mailto:" + r.From,
		"ATTENDEE;CN=" + icsParam(n.Name) + ";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:" + n.Email,
		"STATUS:" + status,
		"TRANSP:OPAQUE",
		"END:VEVENT",
		"END:VCALENDAR",
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(fold(l))
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// icsText escapes a TEXT value (RFC 5545 3.3.11).
func icsText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// icsParam quotes a parameter value; a DQUOTE cannot appear in one at all.
func icsParam(s string) string {
	s = strings.NewReplacer(`"`, "'", "\r", " ", "\n", " ").Replace(s)
	return `"` + s + `"`
}

// fold splits a content line into lines of at most 75 octets, never inside
// a UTF-8 sequence (RFC 5545 3.1).
func fold(l string) string {
	var b strings.Builder
	limit := 75
	for len(l) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(l[cut]) {
			cut--
		}
		b.WriteString(l[:cut])
		b.WriteString("\r\n ")
		l = l[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(l)
	return b.String()
}
