package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"atlas11/web/webtest"
)

// CLM-6, ACC-3, EVT-2: an expert whose claims escalated three times shows up
// in the operator's flagged list with the count; closing the account says
// what happens first; one expert's cap is raised, never above what the media
// server carries, with the refusal next to the field.
func TestOperator_CLM6_FlaggedExpertClosedAndCapRaised(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, expertID := p.signUp(t, "expert", "Yves Caron", "yves@example.com", "Europe/Paris")
	client, _ := p.signUp(t, "client", "Zoé Blanc", "zoe@example.com", "Europe/Paris")
	first := op.now().In(paris).AddDate(0, 0, 1).Truncate(time.Hour)
	var rooms []string
	for i := range 3 {
		start := first.Add(time.Duration(2*i) * time.Hour)
		_, room := client.book(expert.addSlot(start, 60, 2000, "video"), "video")
		rooms = append(rooms, room)
	}
	op.setClock(first.Add(-time.Minute))
	for i, room := range rooms {
		start := first.Add(time.Duration(2*i) * time.Hour)
		op.setClock(start)
		p.presence(t, room, expertID, true, start)
		p.presence(t, room, expertID, false, start.Add(10*time.Minute))
	}
	op.setClock(first.Add(6 * time.Hour))
	var claims []string
	for _, room := range rooms {
		var c struct {
			ID string `json:"id"`
		}
		// For an appointment the room is the booking.
		client.do("POST", "/claims", map[string]string{"booking_id": room, "reason": "Séance écourtée."}, &c, "")
		claims = append(claims, c.ID)
	}
	for _, id := range claims {
		expert.do("POST", "/claims/"+id+"/respond", map[string]any{"kind": "decline", "message": "Non."}, nil, "decline-"+id)
		client.do("POST", "/claims/"+id+"/reject", nil, nil, "")
	}

	browser := webtest.Chrome(t)
	ctx := persona(t, browser, "Europe/Paris")
	signInUI(t, ctx, p.URL, p.OpEmail, p.OpPass)
	goHash(t, ctx, "/operator/flags")
	wantText(t, ctx, "Yves Caron", "Réclamations transmises\n3", "Ouvert")
	checkAxe(t, ctx, axe, "operator flags")
	webtest.Screenshot(t, ctx, "op-01-flags")
	click(t, ctx, "main .card button.danger")
	waitJS(t, ctx, "close dialog", `document.querySelector('dialog[open]')`)
	wantDialog := eval[string](t, ctx, `document.querySelector('dialog[open]').innerText`)
	if !strings.Contains(wantDialog, "remboursés intégralement") || !strings.Contains(wantDialog, "reste payable") {
		t.Fatalf("the closure dialog does not say what happens:\n%s", wantDialog)
	}
	checkAxe(t, ctx, axe, "operator close dialog")
	webtest.Screenshot(t, ctx, "op-02-close-confirm")
	click(t, ctx, "dialog[open] button[type=submit]")
	waitJS(t, ctx, "closed", `document.querySelector('main').innerText.includes('Fermé') && document.querySelector('#flash')`)

	// EVT-2: one expert's cap, never above the media server's maximum (49).
	_, otherID := p.signUp(t, "expert", "Aline Roux", "aline@example.com", "Europe/Paris")
	goHash(t, ctx, "/operator/settings")
	fill(t, ctx, "#cap-form [name=expert_id]", otherID)
	fill(t, ctx, "#cap-form [name=event_cap]", "60")
	submit(t, ctx, "#cap-form")
	if e := fieldError(t, ctx, "#cap-form", "event_cap"); e == "" {
		t.Fatalf("a cap over the media server's maximum shows no error next to the cap:\n%s", pageState(ctx))
	}
	// PAY-3: minimum prices change for new bookings.
	fill(t, ctx, "#settings-form [name=min_video]", "12,00")
	submit(t, ctx, "#settings-form")
	waitJS(t, ctx, "settings saved", `document.querySelector('#flash')`)
	var st struct {
		MinPrices struct {
			Video int64 `json:"video"`
		} `json:"min_prices"`
	}
	op.do("GET", "/operator/settings", nil, &st, "")
	if st.MinPrices.Video != 1200 {
		t.Fatalf("video minimum after saving 12,00 = %d cents", st.MinPrices.Video)
	}
	fill(t, ctx, "#cap-form [name=expert_id]", otherID)
	fill(t, ctx, "#cap-form [name=event_cap]", "20")
	submit(t, ctx, "#cap-form")
	waitJS(t, ctx, "cap saved", `document.getElementById('live').textContent.includes('20')`)
	checkAxe(t, ctx, axe, "operator settings")
	webtest.Screenshot(t, ctx, "op-03-settings")
	var prof struct {
		EventCap int `json:"event_cap"`
	}
	op.do("GET", "/operator/experts/"+otherID+"/profile", nil, &prof, "")
	if prof.EventCap != 20 {
		t.Fatalf("expert's cap after raising it = %d, want 20", prof.EventCap)
	}
	// The expert sees their own cap on the Events screen.
	ex := persona(t, browser, "Europe/Paris")
	signInUI(t, ex, p.URL, "aline@example.com", "password-expert-1")
	goHash(t, ex, "/expert/events")
	wantText(t, ex, fmt.Sprintf("Limite actuelle : %d participants", 20))
	// The new video minimum (12,00 €) is enforced by the server; its refusal
	// shows next to the price.
	goHash(t, ex, "/expert/availability")
	fill(t, ex, "#slot-form [name=date]", op.now().In(paris).AddDate(0, 0, 3).Format("2006-01-02"))
	fill(t, ex, "#slot-form [name=price_cents]", "11")
	submit(t, ex, "#slot-form")
	if e := fieldError(t, ex, "#slot-form", "price_cents"); !strings.Contains(e, "minimum") {
		t.Fatalf("a price under the raised minimum: error next to the price = %q\n%s", e, pageState(ex))
	}
}
