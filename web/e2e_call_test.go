package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"atlas11/web/webtest"
)

// Journey 2 (APT-2, APT-6, APT-7, CALL-1, PAY-2): a client books the video
// slot and pays; before the room opens the call page says so, and a stranger
// is refused; at the start both join, each decodes the other's video; the
// appointment settles and the expert's earnings show 90 % of the price.
func TestJourney2_APT7_BookedVideoCallSettlesNinetyPercent(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Paul Girard", "paul@example.com", "Europe/Paris")
	expert.setSlug("paul-girard")
	day := op.now().In(paris).AddDate(0, 0, 2)
	expert.addRule(day.Weekday(), "10:00", "12:00", 60, 5000, "Europe/Paris", "video")
	p.signUp(t, "client", "Nina Leroy", "nina@example.com", "Europe/Paris")
	p.signUp(t, "client", "Olivier Faure", "olivier@example.com", "Europe/Paris")

	browser := webtest.Chrome(t)
	cl := persona(t, browser, "Europe/Paris")
	signInUI(t, cl, p.URL, "nina@example.com", "password-client-1")
	open(t, cl, p.URL+"/#/e/paul-girard")
	checkAxe(t, cl, axe, "public profile, signed in")
	webtest.Screenshot(t, cl, "j2-01-expert-page")
	click(t, cl, ".slot a.button")
	waitJS(t, cl, "checkout", `location.hash.startsWith('#/book/')`)
	waitScreen(t, cl)
	check(t, cl, "input[name=media][value=video]", true)
	check(t, cl, "#agree", true)
	submit(t, cl, "form.pay")
	waitJS(t, cl, "paid", `location.hash.startsWith('#/activity')`)
	waitScreen(t, cl)
	wantText(t, cl, "Réservation confirmée et payée.", "Confirmé", "Paul Girard", "50,00")
	checkAxe(t, cl, axe, "client activity")
	webtest.Screenshot(t, cl, "j2-02-activity")
	room := eval[string](t, cl, `(async () => (await (await fetch('/api/v1/me/activity')).json()).find(i => i.type === 'appointment').room)()`)
	start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, paris)

	// CALL-1: before the room opens, a clear message; a stranger is refused.
	open(t, cl, p.URL+"/#/call/"+room)
	waitJS(t, cl, "not open message", `document.querySelector('#call-refused')`)
	wantText(t, cl, "L'appel n'est pas ouvert")
	checkAxe(t, cl, axe, "call not open")
	webtest.Screenshot(t, cl, "j2-03-call-not-open")
	stranger := persona(t, browser, "Europe/Paris")
	signInUI(t, stranger, p.URL, "olivier@example.com", "password-client-1")
	op.setClock(start.Add(-2 * time.Minute))
	open(t, stranger, p.URL+"/#/call/"+room)
	waitJS(t, stranger, "refusal", `document.querySelector('#call-refused')`)
	wantText(t, stranger, "Vous n'êtes pas autorisé à rejoindre cet appel")
	webtest.Screenshot(t, stranger, "j2-04-call-not-allowed")

	// At the start both join from their activity; each decodes the other.
	ex := persona(t, browser, "Europe/Paris")
	signInUI(t, ex, p.URL, "paul@example.com", "password-expert-1")
	open(t, ex, p.URL+"/#/activity")
	wantText(t, ex, "Rejoindre l'appel", "Nina Leroy")
	joinCall(t, ex, p.URL, room, "j2-05-device-check")
	checkAxe(t, ex, axe, "call, expert side")
	joinCall(t, cl, p.URL, room, "")
	waitRemoteVideo(t, ex)
	waitRemoteVideo(t, cl)
	waitJS(t, ex, "client listed as present", `document.querySelector('#people').innerText.includes('Nina Leroy')`)
	waitJS(t, cl, "quality measured", `document.querySelector('#quality').dataset.quality !== 'unknown'`)
	webtest.Screenshot(t, ex, "j2-06-call-expert")
	webtest.Screenshot(t, cl, "j2-07-call-client")
	// Issue 10: a chat flood gets a short notice for the sender, and the call
	// goes on for both.
	run(t, cl, `(() => { const f = document.querySelector('#chat-form'), i = f.querySelector('input[name=text]');
		for (let k = 0; k < 15; k++) { i.value = 'message ' + k; f.requestSubmit(); } })()`)
	waitJS(t, cl, "rate-limit notice", `document.querySelector('#chat-log li.chat-notice[data-code=chat_rate_limited][data-t]')`)
	wantText(t, cl, "Trop de messages : patientez un instant")
	waitJS(t, ex, "chat received", `document.querySelector('#chat-log').innerText.includes('message 9')`)
	run(t, cl, `(() => { const f = document.querySelector('#chat-form'); f.querySelector('input[name=text]').value = 'é'.repeat(2001); f.requestSubmit(); })()`)
	waitJS(t, cl, "too-long notice", `document.querySelector('#chat-log li.chat-notice[data-code=chat_too_long][data-t]')`)
	wantText(t, cl, "Message trop long")
	waitJS(t, ex, "client still present after the flood", `document.querySelector('#people').innerText.includes('Nina Leroy')`)
	if n := eval[int](t, ex, `document.querySelectorAll('#chat-log li:not(.chat-notice)').length`); n > 11 {
		t.Fatalf("the expert got %d of 15 flooded messages, want at most the burst", n)
	}
	webtest.Screenshot(t, cl, "j2-07b-chat-refused")
	click(t, cl, "#mute")
	if v := eval[string](t, cl, `document.querySelector('#mute').getAttribute('aria-pressed')`); v != "true" {
		t.Fatalf("mute button pressed state = %q", v)
	}
	checkAxe(t, cl, axe, "call, client side")
	op.setClock(start.Add(30 * time.Minute))
	click(t, cl, "#leave")
	click(t, ex, "#leave")
	waitJS(t, ex, "left", `location.hash.startsWith('#/activity')`)

	// After the end the appointment settles: the expert joined, so the full
	// price is due (APT-7), 90 % of it to the expert (PAY-2).
	op.setClock(start.Add(62 * time.Minute))
	open(t, ex, p.URL+"/#/expert/earnings")
	pending := eval[string](t, ex, `document.querySelector('[data-amount=pending]').textContent`)
	if !strings.Contains(pending, "45,00") {
		t.Fatalf("expert's pending earnings after a 50,00 € appointment = %q, want 45,00 €", pending)
	}
	checkAxe(t, ex, axe, "expert earnings")
	webtest.Screenshot(t, ex, "j2-08-earnings")
	open(t, cl, p.URL+"/#/activity")
	wantText(t, cl, "Réalisé.", "Payé au final : 50,00")
}

// Journey 3 (EVT-4, EVT-6, CALL-2): three clients register and pay; the
// expert streams to all three tabs and sees who is present; the expert
// leaves after 4 minutes, so no client is charged.
func TestJourney3_EVT6_ExpertLeavesAfterFourMinutesNobodyCharged(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Sophie Laurent", "sophie@example.com", "Europe/Paris")
	start := op.now().In(paris).AddDate(0, 0, 1).Truncate(time.Hour)
	event := expert.createEvent("Atelier d'écriture", start, 60, 2000, 3, 10)
	names := []string{"Alice Moreau", "Bruno Simon", "Chloé Michel"}
	browser := webtest.Chrome(t)
	var clients []context.Context
	for i, n := range names {
		email := fmt.Sprintf("client%d@example.com", i)
		p.signUp(t, "client", n, email, "Europe/Paris")
		c := persona(t, browser, "Europe/Paris")
		signInUI(t, c, p.URL, email, "password-client-1")
		open(t, c, p.URL+"/#/events/"+event)
		wantText(t, c, "Atelier d'écriture", fmt.Sprintf("%d place(s) restante(s)", 10-i))
		if i == 0 {
			checkAxe(t, c, axe, "event registration")
			webtest.Screenshot(t, c, "j3-01-event-registration")
		}
		check(t, c, "#agree", true)
		submit(t, c, "form.pay")
		waitJS(t, c, "registered", `location.hash.startsWith('#/activity')`)
		clients = append(clients, c)
	}

	// The expert joins at the start: presence counts from the room's
	// opening, so 4 minutes from the start are 4 minutes present.
	op.setClock(start)
	ex := persona(t, browser, "Europe/Paris")
	signInUI(t, ex, p.URL, "sophie@example.com", "password-expert-1")
	joinCall(t, ex, p.URL, event, "j3-02-expert-device-check")
	for _, c := range clients {
		joinCall(t, c, p.URL, event, "")
	}
	for _, c := range clients {
		waitRemoteVideo(t, c)
	}
	// The expert sees who is present.
	for _, n := range names {
		waitJS(t, ex, n+" present", fmt.Sprintf(`document.querySelector('#people').innerText.includes(%q)`, n))
	}
	waitJS(t, ex, "expert's quality measured", `document.querySelector('#quality').dataset.quality === 'good'`)
	wantText(t, ex, "Connecté.")
	checkAxe(t, ex, axe, "event call, expert side")
	checkAxe(t, clients[0], axe, "event call, participant side")
	webtest.Screenshot(t, ex, "j3-03-event-expert")
	webtest.Screenshot(t, clients[0], "j3-04-event-participant")

	// The expert leaves 4 minutes after the start and never comes back.
	op.setClock(start.Add(4 * time.Minute))
	click(t, ex, "#leave")
	waitJS(t, ex, "expert left", `location.hash.startsWith('#/activity')`)
	for _, c := range clients {
		waitJS(t, c, "expert gone from the list", `!document.querySelector('#people').innerText.includes('Sophie Laurent')`)
		click(t, c, "#leave")
	}
	op.setClock(start.Add(62 * time.Minute))
	for i, c := range clients {
		open(t, c, p.URL+"/#/activity")
		wantText(t, c, "vous n'êtes pas facturé", "Vous ne payez rien.")
		if up := eval[string](t, c, `document.querySelector('.activity section').innerText`); strings.Contains(up, "Atelier") {
			t.Fatalf("the ended event is still listed as upcoming:\n%s", up)
		}
		if i == 0 {
			webtest.Screenshot(t, c, "j3-05-not-charged")
		}
	}
}

// APT-1: an audio-only booking gives an audio call: the device check asks
// for the microphone only, no camera button, sound flows both ways and no
// video is carried.
func TestCall_APT1_AudioOnlyBookingCarriesNoVideo(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Rémi Noël", "remi@example.com", "Europe/Paris")
	start := op.now().In(paris).AddDate(0, 0, 1).Truncate(time.Hour)
	slot := expert.addSlot(start, 30, 1500, "audio")
	client, _ := p.signUp(t, "client", "Jeanne Roche", "jeanne@example.com", "Europe/Paris")
	_, room := client.book(slot, "audio")
	op.setClock(start.Add(-time.Minute))

	browser := webtest.Chrome(t)
	ex := persona(t, browser, "Europe/Paris")
	cl := persona(t, browser, "Europe/Paris")
	signInUI(t, ex, p.URL, "remi@example.com", "password-expert-1")
	signInUI(t, cl, p.URL, "jeanne@example.com", "password-client-1")
	open(t, ex, p.URL+"/#/call/"+room)
	waitJS(t, ex, "device check ready", `document.querySelector('#join') && !document.querySelector('#join').disabled`)
	wantText(t, ex, "Appel audio seulement")
	if n := eval[int](t, ex, `document.querySelectorAll('#preview, select[name=camera]').length`); n != 0 {
		t.Fatalf("an audio-only call's device check shows %d camera controls", n)
	}
	webtest.Screenshot(t, ex, "call-audio-device-check")
	click(t, ex, "#join")
	waitJS(t, ex, "in the call", `document.querySelector('#people li')`)
	joinCall(t, cl, p.URL, room, "")
	for _, ctx := range []context.Context{ex, cl} {
		waitJS(t, ctx, "sound flowing", `document.querySelector('#quality').dataset.quality === 'good'`)
		if n := eval[int](t, ctx, `document.querySelectorAll('#camera-off').length + [...document.querySelectorAll('#remote video')].filter(v => v.videoWidth > 0).length`); n != 0 {
			t.Fatalf("audio-only call shows video or a camera button (%d)", n)
		}
	}
	checkAxe(t, cl, axe, "audio call")
	webtest.Screenshot(t, cl, "call-audio")
}
