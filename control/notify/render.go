// Package notify turns the control plane's notices into e-mails: subject,
// plain text and HTML from the templates of the recipient's language, times
// in the recipient's zone, and an iCalendar invitation or cancellation; and
// sends them over SMTP. It is the only package that speaks SMTP.
package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"atlas11/control"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Languages are the template sets; a notice in another locale gets French.
var Languages = []string{"fr", "en"}

// Kinds lists every notice kind a template set must cover.
var Kinds = []control.NoticeKind{
	control.NoticeBookingConfirmed, control.NoticeBookingNew, control.NoticeRegistrationConfirmed,
	control.NoticeRegistrationNew, control.NoticeBookingCancelled, control.NoticeReminder,
	control.NoticeReceipt, control.NoticeNotCharged, control.NoticeClaimNew, control.NoticeClaimAnswered,
	control.NoticeClaimEscalated, control.NoticeClaimDecided, control.NoticePayoutSent, control.NoticePasswordReset,
	control.NoticeEmailVerify, control.NoticeEmailChange, control.NoticeEmailChanged,
}

// Message is a rendered notice.
type Message struct {
	Subject string
	Text    string
	HTML    string
	// ICS is the iCalendar object (RFC 5545) with Method, when the notice
	// carries an invitation or a cancellation.
	ICS    []byte
	Method string
}

// Renderer renders notices; it is safe for concurrent use.
type Renderer struct {
	BaseURL string // the web app's public origin, e.g. https://atlas11.example
	From    string // the organizer's address in invitations
	text    map[string]*texttemplate.Template
	html    *htmltemplate.Template
}

// NewRenderer parses the embedded templates.
func NewRenderer(baseURL, from string) (*Renderer, error) {
	r := &Renderer{BaseURL: strings.TrimRight(baseURL, "/"), From: from,
		text: map[string]*texttemplate.Template{}}
	for _, lang := range Languages {
		funcs := funcsFor(lang)
		t, err := texttemplate.New(lang).Funcs(texttemplate.FuncMap(funcs)).ParseFS(templateFS, "templates/"+lang+".txt.tmpl")
		if err != nil {
			return nil, err
		}
		r.text[lang] = t
	}
	h, err := htmltemplate.ParseFS(templateFS, "templates/layout.html.tmpl")
	if err != nil {
		return nil, err
	}
	r.html = h
	return r, nil
}

// view is what the templates see.
type view struct {
	N        control.Notice
	Link     string // the screen of the web app the notice is about
	JoinLink string // the call page
	Expert   bool   // the recipient is the expert of the booking
}

// Render renders n in its recipient's language.
func (r *Renderer) Render(n control.Notice) (Message, error) {
	lang := n.Locale
	if _, ok := r.text[lang]; !ok {
		lang = "fr"
	}
	v := view{N: n, Link: r.BaseURL + "/#" + n.Path, Expert: n.ToExpert}
	if n.Room != "" {
		v.JoinLink = r.BaseURL + "/#/call/" + n.Room
	}
	var m Message
	var b bytes.Buffer
	for _, part := range []struct {
		name string
		dst  *string
	}{{"subject", &m.Subject}, {"text", &m.Text}} {
		b.Reset()
		if err := r.text[lang].ExecuteTemplate(&b, string(n.Kind)+"."+part.name, v); err != nil {
			return Message{}, fmt.Errorf("render %s.%s (%s): %w", n.Kind, part.name, lang, err)
		}
		*part.dst = strings.TrimSpace(b.String())
	}
	var out bytes.Buffer
	if err := r.html.ExecuteTemplate(&out, "layout", htmlPage(lang, m.Subject, m.Text, v.Link)); err != nil {
		return Message{}, fmt.Errorf("render layout (%s): %w", lang, err)
	}
	m.HTML = out.String()
	if n.Calendar != "" {
		b.Reset()
		if err := r.text[lang].ExecuteTemplate(&b, "summary", v); err != nil {
			return Message{}, fmt.Errorf("render summary (%s): %w", lang, err)
		}
		m.Method = n.Calendar
		m.ICS = r.invitation(n, strings.TrimSpace(b.String()), v.Link)
	}
	return m, nil
}

// page is the HTML part: the plain text's paragraphs, with its links made
// clickable, in the layout; html/template escapes every piece.
type page struct {
	Lang, Subject, Button string
	Paragraphs            [][][]segment // paragraph -> line -> pieces
	Footer                []string
}

type segment struct{ Text, URL string }

func htmlPage(lang, subject, text, button string) page {
	p := page{Lang: lang, Subject: subject, Button: button}
	body, footer, _ := strings.Cut(text, "\n--\n")
	for _, para := range strings.Split(body, "\n\n") {
		var lines [][]segment
		for _, line := range strings.Split(strings.TrimSpace(para), "\n") {
			lines = append(lines, linkify(line))
		}
		p.Paragraphs = append(p.Paragraphs, lines)
	}
	for _, l := range strings.Split(footer, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			p.Footer = append(p.Footer, l)
		}
	}
	return p
}

// linkify splits a line into text and the http(s) URLs in it.
func linkify(line string) []segment {
	var out []segment
	for line != "" {
		i := strings.Index(line, "http://")
		if j := strings.Index(line, "https://"); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			out = append(out, segment{Text: line})
			break
		}
		if i > 0 {
			out = append(out, segment{Text: line[:i]})
		}
		end := strings.IndexAny(line[i:], " \t")
		if end < 0 {
			end = len(line) - i
		}
		u := line[i : i+end]
		out = append(out, segment{Text: u, URL: u})
		line = line[i+end:]
	}
	return out
}

// funcsFor returns the template helpers for one language: times in the
// recipient's zone, amounts in the language's format.
func funcsFor(lang string) map[string]any {
	return map[string]any{
		"when": func(t time.Time, zone string) string { return formatTime(lang, t, zone) },
		"hour": func(t time.Time, zone string) string { return formatHour(lang, t, zone) },
		"money": func(cents int64, currency string) string {
			return formatMoney(lang, cents, currency)
		},
		"media": func(m control.MediaKind) string { return mediaName(lang, m) },
	}
}

func location(zone string) *time.Location {
	if loc, err := time.LoadLocation(zone); err == nil && zone != "" {
		return loc
	}
	loc, _ := time.LoadLocation("Europe/Paris")
	return loc
}

var (
	frDays   = []string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
	frMonths = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
)

func formatTime(lang string, t time.Time, zone string) string {
	loc := location(zone)
	lt := t.In(loc)
	if lang == "en" {
		return lt.Format("Monday, January 2, 2006 at 3:04 PM") + " (" + loc.String() + ")"
	}
	return fmt.Sprintf("%s %d %s %d à %s (%s)", frDays[lt.Weekday()], lt.Day(), frMonths[lt.Month()-1], lt.Year(),
		lt.Format("15:04"), loc.String())
}

func formatHour(lang string, t time.Time, zone string) string {
	lt := t.In(location(zone))
	if lang == "en" {
		return lt.Format("3:04 PM")
	}
	return lt.Format("15:04")
}

func formatMoney(lang string, cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	units, rest := cents/100, cents%100
	symbol := map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}[currency]
	if symbol == "" {
		symbol = currency
	}
	if lang == "en" {
		return fmt.Sprintf("%s%s%s.%02d", sign, symbol, groupDigits(units, ","), rest)
	}
	return fmt.Sprintf("%s%s,%02d\u00a0%s", sign, groupDigits(units, "\u202f"), rest, symbol)
}

func groupDigits(n int64, sep string) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mediaName(lang string, m control.MediaKind) string {
	names := map[string]map[control.MediaKind]string{
		"fr": {control.MediaVideo: "vidéo", control.MediaAudio: "audio", control.MediaChat: "messagerie"},
		"en": {control.MediaVideo: "video", control.MediaAudio: "audio", control.MediaChat: "chat"},
	}
	if n, ok := names[lang][m]; ok {
		return n
	}
	return string(m)
}
