package web

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"atlas11/web/webtest"
)

// Without a mail server, the operator's E-mails screen shows what a booking
// would send, each message with its recipient, state and the text its
// recipient would read.
func TestOperator_NoticesScreenShowsWhatWouldBeSent(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Yves Caron", "yves@example.com", "Europe/Paris")
	client, _ := p.signUp(t, "client", "Zoé Blanc", "zoe@example.com", "Europe/Paris")
	start := op.now().In(paris).AddDate(0, 0, 3).Truncate(time.Hour)
	client.book(expert.addSlot(start, 60, 2000, "video"), "video")

	browser := webtest.Chrome(t)
	ctx := persona(t, browser, "Europe/Paris")
	signInUI(t, ctx, p.URL, p.OpEmail, p.OpPass)
	goHash(t, ctx, "/operator/notices")
	wantText(t, ctx, "E-mails", "Confirmation de réservation", "Nouvelle réservation (expert)", "zoe@example.com", "yves@example.com", "en attente")
	checkAxe(t, ctx, axe, "operator notices")
	click(t, ctx, `[data-show^="booking_confirmed."]`)
	waitJS(t, ctx, "preview", `document.querySelector('#notice-view pre') !== null`)
	wantText(t, ctx, "Bonjour", "20,00")
	webtest.Screenshot(t, ctx, "op-05-notices")
	goHash(t, ctx, "/operator/notices?state=failed")
	wantText(t, ctx, "Aucun e-mail.")
}

// A client adds a booking to their calendar from the activity screen (an
// iCalendar file with the invitation's UID) and gets a private feed URL
// that serves the same entry, until revoked.
func TestActivity_AddToCalendarAndFeed(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Yves Caron", "yves@example.com", "Europe/Paris")
	client, _ := p.signUp(t, "client", "Zoé Blanc", "zoe@example.com", "Europe/Paris")
	start := op.now().In(paris).AddDate(0, 0, 3).Truncate(time.Hour)
	id, _ := client.book(expert.addSlot(start, 60, 2000, "video"), "video")

	browser := webtest.Chrome(t)
	ctx := persona(t, browser, "Europe/Paris")
	signInUI(t, ctx, p.URL, "zoe@example.com", "password-client-1") // lands on the activity screen
	waitJS(t, ctx, "add to calendar", `document.querySelector('[data-action=calendar]') !== null`)
	href := eval[string](t, ctx, `document.querySelector('[data-action=calendar]').href`)
	ics := eval[string](t, ctx, `fetch(`+jsString(href)+`).then(r => r.text())`)
	if !strings.Contains(ics, "UID:"+id+"@atlas11") || !strings.Contains(ics, "BEGIN:VEVENT") {
		t.Fatalf("add to calendar: %s\n%s", href, ics)
	}
	click(t, ctx, "[data-action=feed-new]")
	waitJS(t, ctx, "feed url", `document.querySelector('[name=feed_url]') !== null`)
	checkAxe(t, ctx, axe, "activity with feed")
	feed := eval[string](t, ctx, `document.querySelector('[name=feed_url]').value`)
	resp, err := http.Get(feed) // a calendar app, without the session
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "UID:"+id+"@atlas11") {
		t.Fatalf("feed %s: %d\n%s", feed, resp.StatusCode, body)
	}
	// E-mail preferences: reminders declined, kept by the server.
	check(t, ctx, "#prefs-form [name=reminders]", false)
	submit(t, ctx, "#prefs-form")
	waitJS(t, ctx, "prefs saved", `document.getElementById('live').textContent.includes('Préférences enregistrées')`)
	var me struct {
		User struct {
			Reminders bool `json:"reminders"`
		} `json:"user"`
	}
	client.do("GET", "/me", nil, &me, "")
	if me.User.Reminders {
		t.Fatalf("reminders still on after unticking them; browser sees %s", eval[string](t, ctx, `fetch('/api/v1/me').then(r => r.text())`))
	}
	click(t, ctx, "[data-action=feed-revoke]")
	waitJS(t, ctx, "revoked", `document.getElementById('feed').innerText.includes('ne fonctionne plus')`)
	if resp, err := http.Get(feed); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoked feed still answers: %v %v", resp.StatusCode, err)
	}
}
