package notify

import (
	"strings"
	"testing"
	"time"

	"atlas11/control"
)

// sample is a notice of kind k in lang, as the control plane writes them.
func sample(k control.NoticeKind, lang string, toExpert bool) control.Notice {
	start := time.Date(2026, 3, 29, 8, 30, 0, 0, time.UTC) // Paris moves to summer time that night
	n := control.Notice{ID: string(k) + ".bk1.u1", Kind: k, UserID: "u1", Email: "bob@example.com", Name: "Bob",
		Locale: lang, TimeZone: "Europe/Paris", CreatedAt: start.Add(-72 * time.Hour), ToExpert: toExpert,
		BookingID: "bk1", BookingKind: control.KindAppointment, ExpertName: "Ana", ClientName: "Bob",
		Start: start, End: start.Add(time.Hour), Media: control.MediaVideo, AmountCents: 123456,
		RefundCents: 123456, Currency: "EUR", CancelBefore: start.Add(-48 * time.Hour), CancelledBy: control.RoleClient,
		Hours: 24, Path: "/activity", Room: "bk1", CalUID: "bk1@atlas11", Message: "Le son <coupé>", RunDate: "2026-04-01"}
	if toExpert {
		n.Name, n.Email = "Ana", "ana@example.com"
	}
	switch k {
	case control.NoticeBookingConfirmed, control.NoticeBookingNew, control.NoticeRegistrationConfirmed:
		n.Calendar = control.CalRequest
	case control.NoticeBookingCancelled:
		n.Calendar, n.CalSequence = control.CalCancel, 1
	}
	if k == control.NoticePayoutSent { // about no booking
		n.Start, n.End, n.BookingID, n.Room = time.Time{}, time.Time{}, "", ""
	}
	if k == control.NoticeRegistrationConfirmed || k == control.NoticeRegistrationNew {
		n.BookingKind, n.Title = control.KindRegistration, "Atelier <aquarelle> & co"
	}
	return n
}

// Every kind renders in both languages: a subject, a plain text and an HTML
// part, nothing missing, times in the recipient's zone, amounts in the
// language's format, the HTML escaped.
func TestRender_EveryKindInBothLanguages(t *testing.T) {
	r, err := NewRenderer("https://atlas11.example", "no-reply@atlas11.example")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"fr": {"dimanche 29 mars 2026 à 10:30 (Europe/Paris)", "1\u202f234,56\u00a0€", "Bonjour"},
		"en": {"Sunday, March 29, 2026 at 10:30 AM (Europe/Paris)", "€1,234.56", "Hello"},
	}
	for _, lang := range Languages {
		for _, k := range Kinds {
			for _, toExpert := range []bool{false, true} {
				n := sample(k, lang, toExpert)
				m, err := r.Render(n)
				if err != nil {
					t.Fatalf("%s %s: %v", lang, k, err)
				}
				all := m.Subject + "\n" + m.Text + "\n" + m.HTML
				for _, bad := range []string{"<no value>", "%!", "0001", "{{"} {
					if strings.Contains(all, bad) {
						t.Fatalf("%s %s: %q in\n%s", lang, k, bad, all)
					}
				}
				if m.Subject == "" || !strings.HasPrefix(m.Text, want[lang][2]) || !strings.Contains(m.HTML, `lang="`+lang+`"`) {
					t.Fatalf("%s %s: subject %q, text %q", lang, k, m.Subject, m.Text)
				}
				wantTime := want[lang][0]
				if k == control.NoticePasswordReset || k == control.NoticeEmailVerify || k == control.NoticeEmailChange { // the link's expiry
					wantTime = formatTime(lang, n.End, n.TimeZone)
				}
				if k != control.NoticePayoutSent && k != control.NoticeEmailChanged && !strings.Contains(m.Text, wantTime) {
					t.Fatalf("%s %s: no local time %q in\n%s", lang, k, wantTime, m.Text)
				}
				noAmount := map[control.NoticeKind]bool{control.NoticeReminder: true, control.NoticeClaimNew: true,
					control.NoticeClaimEscalated: true, control.NoticePasswordReset: true, control.NoticeEmailVerify: true,
					control.NoticeEmailChange: true, control.NoticeEmailChanged: true}
				if !noAmount[k] && !(toExpert && k == control.NoticeBookingCancelled) && !strings.Contains(m.Text, want[lang][1]) {
					t.Fatalf("%s %s: amount not formatted as %q:\n%s", lang, k, want[lang][1], m.Text)
				}
				if strings.Contains(m.HTML, "<aquarelle>") || strings.Contains(m.HTML, "<coupé>") {
					t.Fatalf("%s %s: HTML not escaped", lang, k)
				}
				if (n.Calendar != "") != (m.ICS != nil) {
					t.Fatalf("%s %s: calendar %q but ICS %d bytes", lang, k, n.Calendar, len(m.ICS))
				}
			}
		}
	}
}

// The two languages say different things: no English text left in French
// and the other way round.
func TestRender_LanguagesDiffer(t *testing.T) {
	r, _ := NewRenderer("https://atlas11.example", "no-reply@atlas11.example")
	for _, k := range Kinds {
		fr, _ := r.Render(sample(k, "fr", false))
		en, _ := r.Render(sample(k, "en", false))
		if fr.Subject == en.Subject || fr.Text == en.Text {
			t.Fatalf("%s: French and English are the same", k)
		}
		other, _ := r.Render(sample(k, "de", false))
		if other.Text != fr.Text {
			t.Fatalf("%s: an unknown locale should fall back to French", k)
		}
	}
}

func TestICS_FoldsEscapesAndKeepsUTF8(t *testing.T) {
	long := strings.Repeat("é", 60)
	got := fold("SUMMARY:" + long)
	for _, l := range strings.Split(got, "\r\n") {
		if len(l) > 75 {
			t.Fatalf("line of %d octets", len(l))
		}
	}
	if strings.ReplaceAll(got, "\r\n ", "") != "SUMMARY:"+long {
		t.Fatal("unfolding does not give the line back")
	}
	if icsText("a;b,c\\d\ne") != `a\;b\,c\\d\ne` {
		t.Fatalf("escaped %q", icsText("a;b,c\\d\ne"))
	}
}
