package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"atlas11/web/webtest"
)

// The five journeys of issue 5, in real Chromium against the real binary
// with the simulation clock. Each journey starts its own platform so the
// clock moves of one never disturb another; set-up that is not the journey
// itself goes through the API from Go.

var paris = mustZone("Europe/Paris")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// Journey 1 (ACC-1, ACC-2, APT-1, APT-4, EVT-1..3): an expert signs up for
// free, publishes weekly availability and a one-off audio slot, and creates an
// event for 3–10 participants; prices under the minimum and a maximum over
// the cap are refused inline, next to the field.
func TestJourney1_ExpertPublishesAvailabilityAndEvent(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	browser := webtest.Chrome(t)
	ctx := persona(t, browser, "Europe/Paris")
	op := p.operator(t)
	now := op.now().In(paris)

	open(t, ctx, p.URL+"/#/signup?role=expert")
	wantText(t, ctx, "Devenir expert est gratuit")
	webtest.Screenshot(t, ctx, "j1-01-signup")
	fill(t, ctx, "input[name=name]", "Claire Martin")
	fill(t, ctx, "input[name=email]", "claire@example.com")
	fill(t, ctx, "input[name=password]", "prise-de-parole-42")
	fill(t, ctx, "input[name=time_zone]", "Europe/Paris")
	submit(t, ctx, "main form")
	waitJS(t, ctx, "profile editor", `location.hash === '#/expert/profile'`)
	waitScreen(t, ctx)

	// Profile editor (ACC-2): a headline, a bio and the shareable address.
	fill(t, ctx, "input[name=headline]", "Coach en prise de parole")
	fill(t, ctx, "textarea[name=bio]", "Quinze ans de formation à l'oral.")
	check(t, ctx, "#lang-en", true) // French is ticked from sign-up (LANG-1)
	fill(t, ctx, "input[name=slug]", "claire-martin")
	submit(t, ctx, "#profile-form")
	waitJS(t, ctx, "link updated", `document.querySelector('#my-link') && document.querySelector('#my-link').textContent.endsWith('/e/claire-martin')`)
	checkAxe(t, ctx, axe, "expert profile editor")
	webtest.Screenshot(t, ctx, "j1-02-expert-profile")

	// « Disponibilité »: a weekly rule three days from now, 09:00–12:00.
	day := now.AddDate(0, 0, 3)
	goHash(t, ctx, "/expert/availability")
	fill(t, ctx, "#rule-form [name=weekday]", fmt.Sprint(int(day.Weekday())))
	fill(t, ctx, "#rule-form [name=start_time]", "09:00")
	fill(t, ctx, "#rule-form [name=end_time]", "12:00")
	fill(t, ctx, "#rule-form [name=slot_minutes]", "60")
	fill(t, ctx, "#rule-form [name=time_zone]", "Europe/Paris")
	// PAY-3, APT-4: under the video minimum (10,00 €) is refused inline.
	fill(t, ctx, "#rule-form [name=price_cents]", "5")
	submit(t, ctx, "#rule-form")
	if e := fieldError(t, ctx, "#rule-form", "price_cents"); !strings.Contains(e, "10,00") {
		t.Fatalf("price under the minimum: error next to the price = %q", e)
	}
	fill(t, ctx, "#rule-form [name=price_cents]", "50")
	submit(t, ctx, "#rule-form")
	waitJS(t, ctx, "rule listed", `document.querySelectorAll('.availability .card').length === 1`)

	// A one-off audio-only slot four days from now at 14:00 (Paris).
	slotDay := now.AddDate(0, 0, 4)
	fill(t, ctx, "#slot-form [name=date]", slotDay.Format("2006-01-02"))
	fill(t, ctx, "#slot-form [name=time]", "14:00")
	fill(t, ctx, "#slot-form [name=price_cents]", "30")
	check(t, ctx, "#slot-video", false)
	check(t, ctx, "#slot-audio", true)
	submit(t, ctx, "#slot-form")
	waitJS(t, ctx, "calendar shows the slots", `document.querySelectorAll('.calendar li').length >= 4`)
	cal := eval[string](t, ctx, `document.querySelector('.calendar').innerText`)
	for _, want := range []string{"09:00", "10:00", "11:00", "14:00", "Audio seulement", "50,00", "30,00"} {
		if !strings.Contains(cal, want) {
			t.Fatalf("calendar misses %q:\n%s", want, cal)
		}
	}
	checkAxe(t, ctx, axe, "expert availability")
	webtest.Screenshot(t, ctx, "j1-03-availability")
	checkPhone(t, ctx, axe, "j1-03-availability")

	// « Événements »: 3–10 participants; over the cap is refused inline.
	goHash(t, ctx, "/expert/events")
	wantText(t, ctx, "Créer un événement", "Limite actuelle : 49 participants")
	evDay := now.AddDate(0, 0, 5)
	fill(t, ctx, "#event-form [name=title]", "Atelier : parler en public")
	fill(t, ctx, "#event-form [name=description]", "Une heure d'exercices en groupe.")
	fill(t, ctx, "#event-form [name=date]", evDay.Format("2006-01-02"))
	fill(t, ctx, "#event-form [name=time]", "18:00")
	fill(t, ctx, "#event-form [name=min_participants]", "3")
	fill(t, ctx, "#event-form [name=max_participants]", "60")
	fill(t, ctx, "#event-form [name=price_cents]", "20")
	submit(t, ctx, "#event-form")
	if e := fieldError(t, ctx, "#event-form", "max_participants"); !strings.Contains(e, "49") {
		t.Fatalf("max over the cap: error next to the maximum = %q", e)
	}
	fill(t, ctx, "#event-form [name=max_participants]", "10")
	submit(t, ctx, "#event-form")
	waitJS(t, ctx, "event listed", `document.querySelectorAll('.events .card').length === 1`)
	wantText(t, ctx, "Atelier : parler en public", "0 inscrit(s) — minimum 3, maximum 10")
	checkAxe(t, ctx, axe, "expert events")
	webtest.Screenshot(t, ctx, "j1-04-events")

	// Earnings and billing details (PAY-6): nothing earned yet; the IBAN is
	// required before payouts.
	goHash(t, ctx, "/expert/earnings")
	wantText(t, ctx, "En séquestre", "Renseignez vos informations de facturation")
	fill(t, ctx, "#billing-form [name=holder_name]", "Claire Martin")
	submit(t, ctx, "#billing-form")
	if e := fieldError(t, ctx, "#billing-form", "iban"); e == "" {
		t.Fatal("billing details without an IBAN show no error next to the IBAN")
	}
	// A mistyped IBAN (one digit changed) fails its check digits: refused
	// next to the field, in French, and nothing is saved.
	fill(t, ctx, "#billing-form [name=iban]", "FR76 3000 6000 0112 3456 7890 198")
	fill(t, ctx, "#billing-form [name=country]", "FR")
	submit(t, ctx, "#billing-form")
	waitJS(t, ctx, "IBAN refused", `!document.querySelector('#billing-form [data-error-for=iban]').hidden`)
	if e := fieldError(t, ctx, "#billing-form", "iban"); !strings.Contains(e, "IBAN invalide") {
		t.Fatalf("a mistyped IBAN shows %q next to the IBAN", e)
	}
	fill(t, ctx, "#billing-form [name=iban]", "FR76 3000 6000 0112 3456 7890 189")
	submit(t, ctx, "#billing-form")
	waitJS(t, ctx, "billing saved", `document.querySelector('#flash') && !document.querySelector('main').innerText.includes('Renseignez vos informations')`)
	checkAxe(t, ctx, axe, "expert earnings")
	webtest.Screenshot(t, ctx, "j1-05-earnings")

	// The shareable page lists the slots and the event, seen by a visitor
	// in another zone (TIME-1): 09:00 Paris reads 03:00 in New York (or
	// 04:00 around daylight-saving changes), never 09:00.
	visitor := persona(t, browser, "America/New_York")
	open(t, visitor, p.URL+"/e/claire-martin") // the plain shareable link (ACC-2)
	wantText(t, visitor, "Claire Martin", "Coach en prise de parole", "Atelier : parler en public", "10 place(s) restante(s)", "Audio seulement", "Langues : français, anglais.")
	slots := eval[string](t, visitor, `document.querySelector('.days').innerText`)
	if strings.Contains(slots, "09:00–") || !(strings.Contains(slots, "03:00–") || strings.Contains(slots, "04:00–")) {
		t.Fatalf("visitor in New York sees the slots as:\n%s", slots)
	}
	checkAxe(t, visitor, axe, "public expert profile")
	webtest.Screenshot(t, visitor, "j1-06-public-profile")
}

// Journey 4 (APT-6, CLM-1, CLM-2, CLM-4, PAY-4): a client books and pays,
// sees the 48-hour deadline in their own zone before paying; 30 hours before
// the start they cancel, warned that they will be charged, and are charged;
// they open a claim, the expert refunds half, the client accepts.
func TestJourney4_APT6_LateCancelChargedThenHalfRefundedByClaim(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Hugo Bernard", "hugo@example.com", "Europe/Paris")
	expert.setSlug("hugo-bernard")
	start := op.now().In(paris).AddDate(0, 0, 3).Truncate(time.Hour)
	expert.addSlot(start, 60, 4000, "video", "audio")
	p.signUp(t, "client", "Léa Roy", "lea@example.com", "America/Toronto")

	browser := webtest.Chrome(t)
	client := persona(t, browser, "America/Toronto")
	// A server-side refusal lands next to the field it names: signing up
	// again with the same email.
	open(t, client, p.URL+"/#/signup")
	fill(t, client, "input[name=name]", "Léa Roy")
	fill(t, client, "input[name=email]", "lea@example.com")
	fill(t, client, "input[name=password]", "another-password-1")
	submit(t, client, "main form")
	if e := fieldError(t, client, "main form", "email"); !strings.Contains(e, "existe déjà") {
		t.Fatalf("signing up with a taken email: error next to the email = %q", e)
	}
	signInUI(t, client, p.URL, "lea@example.com", "password-client-1")
	open(t, client, p.URL+"/#/e/hugo-bernard")
	click(t, client, ".slot a.button")
	waitJS(t, client, "checkout", `location.hash.startsWith('#/book/')`)
	waitScreen(t, client)
	// APT-6 spelled out before paying: the deadline is the start minus 48 h,
	// written in the client's zone (Toronto), not the expert's.
	want := eval[string](t, client, fmt.Sprintf(`import('/js/i18n.js').then(m => m.fmtDateTime(%q))`, start.Add(-48*time.Hour).UTC().Format(time.RFC3339)))
	terms := eval[string](t, client, `document.querySelector('#cancel-terms').innerText`)
	if !strings.Contains(terms, want) || !strings.Contains(terms, "America/Toronto") {
		t.Fatalf("cancellation terms do not give the deadline %q in Toronto time:\n%s", want, terms)
	}
	wantText(t, client, "40,00", "Payer 40,00")
	checkAxe(t, client, axe, "client checkout")
	webtest.Screenshot(t, client, "j4-01-checkout")
	checkPhone(t, client, axe, "j4-01-checkout")
	// Paying without ticking the terms is refused next to the checkbox.
	submit(t, client, "form.pay")
	if e := fieldError(t, client, "form.pay", "agree"); e == "" {
		t.Fatal("paying without accepting the terms shows no error next to the checkbox")
	}
	check(t, client, "#agree", true)
	submit(t, client, "form.pay")
	waitJS(t, client, "activity after paying", `location.hash.startsWith('#/activity')`)
	waitScreen(t, client)

	// 30 hours before the start, cancelling costs the full price: the screen
	// says so before confirming.
	op.setClock(start.Add(-30 * time.Hour))
	open(t, client, p.URL+"/#/activity")
	wantText(t, client, "le prix total (40,00")
	click(t, client, "[data-action=cancel]")
	waitJS(t, client, "cancel dialog", `document.querySelector('dialog[open] #cancel-consequence')`)
	consequence := eval[string](t, client, `document.querySelector('#cancel-consequence').textContent`)
	if !strings.Contains(consequence, "Moins de 48 heures") || !strings.Contains(consequence, "40,00") {
		t.Fatalf("the warning before cancelling says %q", consequence)
	}
	checkAxe(t, client, axe, "client cancel dialog")
	webtest.Screenshot(t, client, "j4-02-cancel-warning")
	click(t, client, "#cancel-confirm")
	waitJS(t, client, "charged announcement", `document.getElementById('live').textContent.includes('le prix total a été facturé')`)

	// CLM-1: the claim is opened from the item in the recent activity.
	open(t, client, p.URL+"/#/activity")
	wantText(t, client, "Annulé moins de 48 heures avant le début : le prix total est facturé.", "Payé au final : 40,00")
	click(t, client, "[data-action=open_claim]")
	fill(t, client, ".claim-form textarea[name=reason]", "Un imprévu familial, je demande un geste.")
	submit(t, client, ".claim-form")
	waitJS(t, client, "claim page", `location.hash.startsWith('#/claims/')`)
	waitScreen(t, client)
	claimURL := eval[string](t, client, `location.href`)
	wantText(t, client, "En attente de l'expert", "Un imprévu familial")
	checkAxe(t, client, axe, "client claim thread")
	webtest.Screenshot(t, client, "j4-03-claim-opened")

	// CLM-4: the expert answers from their activity: half the price back.
	ex := persona(t, browser, "Europe/Paris")
	signInUI(t, ex, p.URL, "hugo@example.com", "password-expert-1")
	open(t, ex, p.URL+"/#/activity")
	click(t, ex, "[data-action=respond]")
	waitJS(t, ex, "respond form", `document.querySelector('#respond')`)
	waitScreen(t, ex)
	check(t, ex, "#respond input[value=partial_refund]", true)
	fill(t, ex, "#respond [name=amount_cents]", "20,00")
	fill(t, ex, "#respond [name=message]", "Je vous rembourse la moitié.")
	checkAxe(t, ex, axe, "expert claim answer")
	webtest.Screenshot(t, ex, "j4-04-expert-answer")
	submit(t, ex, "#respond")
	waitJS(t, ex, "answer recorded", `document.querySelector('main').innerText.includes('Remboursement partiel : 20,00')`)

	// The client accepts: resolved, 20,00 € back.
	open(t, client, claimURL)
	wantText(t, client, "Remboursement partiel : 20,00", "Je vous rembourse la moitié.")
	click(t, client, "#accept")
	waitJS(t, client, "resolved", `document.querySelector('main').innerText.includes('Résolue')`)
	webtest.Screenshot(t, client, "j4-05-claim-resolved")
	open(t, client, p.URL+"/#/activity")
	wantText(t, client, "Remboursé", "20,00")

	// LANG-1: the same screens in English, amounts in the English format.
	open(t, client, p.URL+"/?lang=en#/activity")
	wantText(t, client, "Recent activity", "Cancelled less than 48 hours before the start", "Refunded", "€20.00")
	open(t, client, claimURL)
	wantText(t, client, "Resolved", "Partial refund: €20.00")
	webtest.Screenshot(t, client, "j4-06-claim-english")
}

// Journey 5 (CLM-4, CLM-5, CALL-3): the expert declines a claim, the client
// rejects the answer, the claim escalates; an operator sees who was in the
// call and when, and decides a refund.
func TestJourney5_CLM5_EscalatedClaimDecidedWithPresenceEvidence(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, expertID := p.signUp(t, "expert", "Inès Petit", "ines@example.com", "Europe/Paris")
	start := op.now().In(paris).AddDate(0, 0, 1).Truncate(time.Hour)
	slot := expert.addSlot(start, 60, 5000, "video")
	client, clientID := p.signUp(t, "client", "Marc Dubois", "marc@example.com", "Europe/Paris")
	_, room := client.book(slot, "video")

	// The call: both join at the start, the expert leaves after 20 minutes.
	op.setClock(start.Add(-5 * time.Minute))
	p.presence(t, room, expertID, true, start)
	p.presence(t, room, clientID, true, start.Add(time.Minute))
	op.setClock(start.Add(20 * time.Minute))
	p.presence(t, room, expertID, false, start.Add(20*time.Minute))
	p.presence(t, room, clientID, false, start.Add(21*time.Minute))
	op.setClock(start.Add(61 * time.Minute))

	browser := webtest.Chrome(t)
	cl := persona(t, browser, "Europe/Paris")
	signInUI(t, cl, p.URL, "marc@example.com", "password-client-1")
	open(t, cl, p.URL+"/#/activity")
	click(t, cl, "[data-action=open_claim]")
	fill(t, cl, ".claim-form textarea[name=reason]", "L'expert est parti au bout de vingt minutes.")
	submit(t, cl, ".claim-form")
	waitJS(t, cl, "claim page", `location.hash.startsWith('#/claims/')`)
	claimURL := eval[string](t, cl, `location.href`)

	ex := persona(t, browser, "Europe/Paris")
	signInUI(t, ex, p.URL, "ines@example.com", "password-expert-1")
	open(t, ex, claimURL)
	// The expert sees their own presence too.
	if got := eval[string](t, ex, `document.querySelector('#presence').innerText`); !strings.Contains(got, "20 minute(s) au total") {
		t.Fatalf("the expert's presence on the claim: %q", got)
	}
	check(t, ex, "#respond input[value=decline]", true)
	submit(t, ex, "#respond")
	if e := fieldError(t, ex, "#respond", "message"); e == "" {
		t.Fatal("declining without a message shows no error next to the message")
	}
	fill(t, ex, "#respond [name=message]", "La séance a eu lieu, le contenu prévu a été couvert.")
	submit(t, ex, "#respond")
	waitJS(t, ex, "declined", `document.querySelector('main').innerText.includes('Refus.')`)

	open(t, cl, claimURL)
	wantText(t, cl, "Refus.", "le contenu prévu a été couvert")
	click(t, cl, "#reject")
	waitJS(t, cl, "escalated", `document.querySelector('main').innerText.includes('Transmise à Atlas11')`)
	webtest.Screenshot(t, cl, "j5-01-client-escalated")

	// The operator's queue and the evidence.
	opc := persona(t, browser, "Europe/Paris")
	signInUI(t, opc, p.URL, p.OpEmail, p.OpPass)
	open(t, opc, p.URL+"/#/operator")
	wantText(t, opc, "Réclamations transmises", "L'expert est parti au bout de vingt minutes.")
	checkAxe(t, opc, axe, "operator escalated claims")
	webtest.Screenshot(t, opc, "j5-02-operator-queue")
	click(t, opc, "a[data-claim]")
	waitJS(t, opc, "decision form", `document.querySelector('#decide')`)
	waitScreen(t, opc)
	evidence := eval[string](t, opc, `document.querySelector('#presence').innerText`)
	from, to := fmtParis(t, opc, start), fmtParis(t, opc, start.Add(20*time.Minute))
	if !strings.Contains(evidence, "20 minute(s)") || !strings.Contains(evidence, from) || !strings.Contains(evidence, to) {
		t.Fatalf("expert presence on the operator's screen:\n%s\nwant 20 minutes from %s to %s", evidence, from, to)
	}
	clientEv := eval[string](t, opc, `document.querySelector('#presence-client').innerText`)
	if from, to := fmtParis(t, opc, start.Add(time.Minute)), fmtParis(t, opc, start.Add(21*time.Minute)); !strings.Contains(clientEv, "20 minute(s)") || !strings.Contains(clientEv, from) || !strings.Contains(clientEv, to) {
		t.Fatalf("client presence on the operator's screen:\n%s\nwant 20 minutes from %s to %s", clientEv, from, to)
	}
	checkAxe(t, opc, axe, "operator claim decision")
	checkPhone(t, opc, axe, "j5-operator-claim")
	// A refund larger than what was paid is refused next to the amount.
	fill(t, opc, "#decide [name=refund_cents]", "80")
	fill(t, opc, "#decide [name=message]", "Remboursement de la moitié : la séance a été écourtée.")
	submit(t, opc, "#decide")
	if e := fieldError(t, opc, "#decide", "refund_cents"); e == "" {
		t.Fatalf("a refund over the price shows no error next to the amount:\n%s", pageState(opc))
	}
	fill(t, opc, "#decide [name=refund_cents]", "25")
	webtest.Screenshot(t, opc, "j5-03-operator-decision")
	submit(t, opc, "#decide")
	waitJS(t, opc, "decided", `document.querySelector('main').innerText.includes('Remboursement décidé : 25,00')`)

	open(t, cl, claimURL)
	wantText(t, cl, "Décidée par Atlas11", "Remboursement décidé : 25,00", "la séance a été écourtée")
	webtest.Screenshot(t, cl, "j5-04-client-decision")

	// The other operator screens.
	for _, route := range []string{"/operator/flags", "/operator/payouts", "/operator/settings"} {
		goHash(t, opc, route)
		if route == "/operator/payouts" {
			wantText(t, opc, "Versements effectués") // the runs list (PAY-6)
		}
		checkAxe(t, opc, axe, "operator "+route)
		webtest.Screenshot(t, opc, "j5-"+strings.ReplaceAll(strings.TrimPrefix(route, "/"), "/", "-"))
	}
}

// fmtParis formats an instant as the app does for a viewer in Paris.
func fmtParis(t *testing.T, ctx context.Context, at time.Time) string {
	return eval[string](t, ctx, fmt.Sprintf(`import('/js/i18n.js').then(m => m.fmtDateTime(%q))`, at.UTC().Format(time.RFC3339)))
}
