package web

import (
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
	click(t, ctx, "[data-show]")
	waitJS(t, ctx, "preview", `document.querySelector('#notice-view pre') !== null`)
	wantText(t, ctx, "Bonjour", "20,00")
	webtest.Screenshot(t, ctx, "op-05-notices")
	goHash(t, ctx, "/operator/notices?state=failed")
	wantText(t, ctx, "Aucun e-mail.")
}
