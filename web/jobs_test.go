package web

import (
	"path/filepath"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"
	"atlas11/web/webtest"
)

// A booking record damaged on disk (written while the server was stopped,
// as a bad restore would) makes its settlement fail; the operator finds it
// on the Jobs screen with its error and attempts, retries it, then resolves
// it, and the screen says so.
func TestOperator_FailedJobRetriedThenResolvedOnTheJobsScreen(t *testing.T) {
	p := startPlatform(t)
	axe := axeSource(t)
	op := p.operator(t)
	expert, _ := p.signUp(t, "expert", "Yves Caron", "yves@example.com", "Europe/Paris")
	client, _ := p.signUp(t, "client", "Zoé Blanc", "zoe@example.com", "Europe/Paris")
	start := op.now().In(paris).AddDate(0, 0, 1).Truncate(time.Hour)
	id, _ := client.book(expert.addSlot(start, 60, 2000, "video"), "video")
	op.setClock(start.Add(-30 * time.Minute)) // its reminders go out before the damage

	p.stop()
	db, err := bolt.Open(filepath.Join(p.Data, "atlas11.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx control.Tx) error { return tx.Put("bookings", []byte(id), []byte("{torn")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	p.serve(t)
	op = p.operator(t)
	op.setClock(start.Add(2 * time.Hour))

	browser := webtest.Chrome(t)
	ctx := persona(t, browser, "Europe/Paris")
	signInUI(t, ctx, p.URL, p.OpEmail, p.OpPass)
	goHash(t, ctx, "/operator/jobs")
	wantText(t, ctx, "Tâches de fond", "Règlement d'un rendez-vous", "réessai prévu", id, "Tentatives\n1", "Réessais en cours\n1")
	checkAxe(t, ctx, axe, "operator jobs")
	webtest.Screenshot(t, ctx, "op-04-jobs")
	click(t, ctx, "[data-retry]")
	waitJS(t, ctx, "retried", `document.querySelector('#flash') && document.querySelector('main').innerText.includes('Tâche relancée')`)
	click(t, ctx, "[data-resolve]")
	waitJS(t, ctx, "resolved", `document.querySelector('main').innerText.includes('Aucune tâche en échec.')`)
	var v struct {
		Failed []any `json:"failed"`
	}
	op.do("GET", "/operator/jobs", nil, &v, "")
	if len(v.Failed) != 0 {
		t.Fatalf("failed jobs after resolving: %v", v.Failed)
	}
}
