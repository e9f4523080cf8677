package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/web/webtest"

	"github.com/chromedp/chromedp"
)

// mailpitVersion is the SMTP server the mail tests deliver to, built from
// the module proxy at this pinned version.
const mailpitVersion = "v1.33.1"

// mailpit is a real SMTP server on loopback whose API shows what arrived.
type mailpit struct {
	t          *testing.T
	bin        string
	smtp, http int
	cmd        *exec.Cmd
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	m := &mailpit{t: t, bin: goTool(t, "github.com/axllent/mailpit", mailpitVersion),
		smtp: freeTCPPort(t), http: freeTCPPort(t)}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mailpit) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "--smtp", "127.0.0.1:"+strconv.Itoa(m.smtp), "--listen", "127.0.0.1:"+strconv.Itoa(m.http),
		"--enable-chaos", "--disable-version-check", "--smtp-disable-rdns")
	m.cmd.Stdout, m.cmd.Stderr = io.Discard, io.Discard
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for range 100 {
		if resp, err := http.Get(m.api("/readyz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatal("mailpit did not get ready within 5 s")
}

func (m *mailpit) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

func (m *mailpit) api(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", m.http, path) }

func (m *mailpit) getJSON(path string, out any) {
	m.t.Helper()
	resp, err := http.Get(m.api(path))
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("mailpit %s: %d %s", path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			m.t.Fatalf("mailpit %s: %v", path, err)
		}
	}
}

// chaos makes Mailpit answer every recipient with code (0: accept again).
func (m *mailpit) chaos(code int) {
	m.t.Helper()
	prob := 100
	if code == 0 {
		code, prob = 451, 0
	}
	body := fmt.Sprintf(`{"Recipient":{"ErrorCode":%d,"Probability":%d}}`, code, prob)
	req, _ := http.NewRequest(http.MethodPut, m.api("/api/v1/chaos"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
}

// clear deletes every message.
func (m *mailpit) clear() {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, m.api("/api/v1/messages"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
}

type mailSummary struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

type mailMessage struct {
	mailSummary
	Text        string `json:"Text"`
	HTML        string `json:"HTML"`
	Attachments []struct {
		PartID      string `json:"PartID"`
		FileName    string `json:"FileName"`
		ContentType string `json:"ContentType"`
	} `json:"Attachments"`
}

// waitMessages waits until n messages arrived (bounded), and returns them.
func (m *mailpit) waitMessages(n int) []mailSummary {
	m.t.Helper()
	var list struct {
		Messages []mailSummary `json:"messages"`
	}
	for range 150 {
		m.getJSON("/api/v1/messages?limit=500", &list)
		if len(list.Messages) >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list.Messages) != n {
		m.t.Fatalf("%d messages in Mailpit, want %d: %+v", len(list.Messages), n, list.Messages)
	}
	return list.Messages
}

func (m *mailpit) message(id string) mailMessage {
	m.t.Helper()
	var msg mailMessage
	m.getJSON("/api/v1/message/"+id, &msg)
	return msg
}

// invite returns the message's invite.ics as an independent parser
// (python3-icalendar) reads it: METHOD, UID, SEQUENCE, DTSTART, DTEND, STATUS.
func (m *mailpit) invite(msg mailMessage) map[string]string {
	m.t.Helper()
	for _, a := range msg.Attachments {
		if a.FileName != "invite.ics" {
			continue
		}
		resp, err := http.Get(m.api("/api/v1/message/" + msg.ID + "/part/" + a.PartID))
		if err != nil {
			m.t.Fatal(err)
		}
		ics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return parseICS(m.t, ics)
	}
	m.t.Fatalf("message %q has no invite.ics: %+v", msg.Subject, msg.Attachments)
	return nil
}

const icsParser = `
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
ev = [c for c in cal.walk() if c.name == "VEVENT"]
assert len(ev) == 1, "want one VEVENT"
e = ev[0]
print(json.dumps({"METHOD": str(cal["METHOD"]), "UID": str(e["UID"]), "SEQUENCE": str(e.get("SEQUENCE", 0)),
  "DTSTART": e.decoded("DTSTART").isoformat(), "DTEND": e.decoded("DTEND").isoformat(),
  "STATUS": str(e.get("STATUS", "")), "ATTENDEE": str(e.get("ATTENDEE", ""))}))
`

func parseICS(t *testing.T, ics []byte) map[string]string {
	t.Helper()
	// Debian's interpreter, where Debian's python3-icalendar lives (not a
	// python3 that another installation put first on PATH).
	cmd := exec.Command("/usr/bin/python3", "-c", icsParser)
	cmd.Stdin = bytes.NewReader(ics)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3-icalendar refused the invitation: %v\n%s\n%s", err, out, ics)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// Booking through the real binary delivers, over SMTP to a real Mailpit,
// the client's confirmation in English with New York times and the
// expert's in French, each with an invitation a calendar parser accepts;
// a cancellation while the server answers 451 is retried and delivered
// once, with a CANCEL for the same UID; a 550 marks the message failed for
// the operator, whose resend delivers it; Mailpit down for a while loses
// nothing.
func TestMail_DeliveredRetriedFailedAndResentThroughMailpit(t *testing.T) {
	mp := startMailpit(t)
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "quiet harbour lantern"
		}
		return ""
	}
	if err := run(t.Context(), []string{"operator", "create", "--email", "ops@mail.test", "--name", "Ops", "--data", dataDir},
		env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig + fmt.Sprintf(`mail:
  smtp_host: 127.0.0.1
  smtp_port: %d
  tls: none
  from: "Atlas11 <no-reply@atlas11.test>"
  base_url: https://visio.atlas11.test
`, mp.smtp)
	p := spawnWith(t, bin, dataDir, cfg, "--clock=sim")
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	api := func(c *client, method, path string, body any, out any, hdr ...string) {
		t.Helper()
		h := map[string]string{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h[hdr[i]] = hdr[i+1]
		}
		if _, err := c.do(method, "/api/v1"+path, body, h, out); err != nil {
			t.Fatal(err)
		}
	}
	op := newClient(p.base)
	api(op, "POST", "/auth/signin", map[string]any{"email": "ops@mail.test", "password": "quiet harbour lantern"}, nil)
	ex, cl := newClient(p.base), newClient(p.base)
	api(ex, "POST", "/auth/signup", map[string]any{"email": "ana@mail.test", "password": "amber orchard violin", "name": "Ana Expert",
		"role": "expert", "time_zone": "Europe/Paris"}, nil)
	api(cl, "POST", "/auth/signup", map[string]any{"email": "bob@mail.test", "password": "silver meadow compass", "name": "Bob Client",
		"role": "client", "time_zone": "America/New_York", "locale": "en"}, nil)
	// The three sign-ups' verification mails first; the rest counts from an
	// empty mailbox.
	mp.waitMessages(3)
	mp.clear()
	var clock struct {
		Now time.Time `json:"now"`
	}
	api(op, "GET", "/sim/clock", nil, &clock)
	advance := func(d string) { t.Helper(); api(op, "POST", "/sim/clock", map[string]any{"advance": d}, nil) }
	// A slot a week ahead: no reminder falls due during the test.
	start := clock.Now.Add(7 * 24 * time.Hour).Truncate(time.Hour)
	var slot control.Slot
	api(ex, "POST", "/me/slots", map[string]any{"start": start, "minutes": 60, "price_cents": 4500, "media": []string{"video"}}, &slot)
	var bk control.Booking
	api(cl, "POST", "/bookings", map[string]any{"slot_id": slot.ID}, &bk, "Idempotency-Key", "mail-1")

	byTo := func(list []mailSummary) map[string]mailMessage {
		out := map[string]mailMessage{}
		for _, s := range list {
			out[s.To[0].Address] = mp.message(s.ID)
		}
		return out
	}
	got := byTo(mp.waitMessages(2))
	client, expert := got["bob@mail.test"], got["ana@mail.test"]
	if !strings.HasPrefix(client.Subject, "Booking confirmed") || !strings.HasPrefix(expert.Subject, "Nouvelle réservation") {
		t.Fatalf("subjects: client %q, expert %q", client.Subject, expert.Subject)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if want := start.In(ny).Format("Monday, January 2, 2006 at 3:04 PM") + " (America/New_York)"; !strings.Contains(client.Text, want) {
		t.Fatalf("client text lacks %q:\n%s", want, client.Text)
	}
	if !strings.Contains(client.Text, "€45.00") || !strings.Contains(client.Text, "https://visio.atlas11.test/#/call/"+bk.Room) {
		t.Fatalf("client text lacks the amount or the join link:\n%s", client.Text)
	}
	if !strings.Contains(client.HTML, `href="https://visio.atlas11.test/#/activity"`) {
		t.Fatalf("client HTML lacks the link back:\n%s", client.HTML)
	}
	inv := mp.invite(client)
	if inv["METHOD"] != "REQUEST" || inv["UID"] != bk.ID+"@atlas11" || inv["STATUS"] != "CONFIRMED" ||
		!strings.HasPrefix(inv["DTSTART"], start.UTC().Format("2006-01-02T15:04:05")) ||
		!strings.HasPrefix(inv["DTEND"], start.Add(time.Hour).UTC().Format("2006-01-02T15:04:05")) ||
		!strings.Contains(inv["ATTENDEE"], "bob@mail.test") {
		t.Fatalf("client invitation: %v", inv)
	}
	if mp.invite(expert)["UID"] != inv["UID"] {
		t.Fatal("the expert's invitation has another UID")
	}
	// The client's private feed shows the same entry, to the same parser.
	var feed struct {
		Path string `json:"path"`
	}
	api(cl, "POST", "/me/calendar-feed", nil, &feed)
	resp, err := http.Get(p.base + feed.Path)
	if err != nil {
		t.Fatal(err)
	}
	ics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if f := parseICS(t, ics); f["UID"] != inv["UID"] || f["DTSTART"] != inv["DTSTART"] || f["METHOD"] != "PUBLISH" {
		t.Fatalf("feed entry %v, invitation %v", f, inv)
	}

	// 451 while the client cancels: retried, then delivered once.
	mp.chaos(451)
	api(cl, "POST", "/bookings/"+bk.ID+"/cancel", nil, nil, "Idempotency-Key", "mail-cancel")
	var retrying []control.Notice
	for range 50 {
		api(op, "GET", "/operator/notices?state=retrying", nil, &retrying)
		if len(retrying) == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(retrying) != 2 || !strings.Contains(retrying[0].LastError, "451") {
		t.Fatalf("retrying notices: %+v", retrying)
	}
	mp.chaos(0)
	advance("2m")
	all := mp.waitMessages(4)
	cancels := 0
	for _, s := range all {
		if !strings.HasPrefix(s.Subject, "Cancelled") && !strings.HasPrefix(s.Subject, "Annulé") {
			continue
		}
		cancels++
		c := mp.invite(mp.message(s.ID))
		if c["METHOD"] != "CANCEL" || c["UID"] != inv["UID"] || c["SEQUENCE"] <= inv["SEQUENCE"] || c["STATUS"] != "CANCELLED" {
			t.Fatalf("cancellation invitation %v after %v", c, inv)
		}
	}
	if cancels != 2 {
		t.Fatalf("%d cancellations delivered, want 2: %+v", cancels, all)
	}

	// 550: failed for good, shown to the operator, resent by them.
	mp.chaos(550)
	var s2 control.Slot
	api(ex, "POST", "/me/slots", map[string]any{"start": start.Add(2 * time.Hour), "minutes": 60, "price_cents": 4500, "media": []string{"video"}}, &s2)
	api(cl, "POST", "/bookings", map[string]any{"slot_id": s2.ID}, nil, "Idempotency-Key", "mail-2")
	var failed []control.Notice
	for range 50 {
		api(op, "GET", "/operator/notices?state=failed", nil, &failed)
		if len(failed) == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(failed) != 2 || failed[0].Attempts != 1 {
		t.Fatalf("failed notices: %+v", failed)
	}
	advance("3h")
	mp.waitMessages(4) // a failed notice is not retried on its own
	mp.chaos(0)
	for _, n := range failed {
		api(op, "POST", "/operator/notices/"+n.ID+"/resend", nil, nil)
	}
	mp.waitMessages(6)

	// Mailpit down: the confirmations wait, and arrive once it is back.
	mp.stop()
	var s3 control.Slot
	api(ex, "POST", "/me/slots", map[string]any{"start": start.Add(4 * time.Hour), "minutes": 60, "price_cents": 4500, "media": []string{"video"}}, &s3)
	api(cl, "POST", "/bookings", map[string]any{"slot_id": s3.ID}, nil, "Idempotency-Key", "mail-3")
	for range 50 {
		api(op, "GET", "/operator/notices?state=retrying", nil, &retrying)
		if len(retrying) == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(retrying) != 2 {
		t.Fatalf("with Mailpit down: %+v", retrying)
	}
	mp.start() // a fresh, empty Mailpit on the same ports
	advance("5m")
	mp.waitMessages(2)
	if _, err := os.Stat(dataDir); err != nil {
		t.Fatal(err)
	}
}

// Crash safety of the outbox: the binary is killed with SIGKILL at random
// moments while clients book and confirmations go out; after the restarts,
// every booking that committed as confirmed has its confirmation in
// Mailpit under one Message-ID, and nothing was sent for one that did not.
// A kill between the relay's acceptance and the "sent" commit can repeat a
// message after its lease, under the same Message-ID (at most one per kill).
func TestMail_SIGKILLWhileBookingAndSendingLosesAndInventsNothing(t *testing.T) {
	mp := startMailpit(t)
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "quiet harbour lantern"
		}
		return ""
	}
	if err := run(t.Context(), []string{"operator", "create", "--email", "ops@mail.test", "--name", "Ops", "--data", dataDir},
		env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig + fmt.Sprintf("mail:\n  smtp_host: 127.0.0.1\n  smtp_port: %d\n  tls: none\n  from: no-reply@atlas11.test\n", mp.smtp)
	p := spawnWith(t, bin, dataDir, cfg, "--clock=sim")
	signIn := func(c *client, email, pass string) {
		t.Helper()
		mustDo(t, c, "POST", "/api/v1/auth/signin", map[string]any{"email": email, "password": pass}, nil)
	}
	ex := newClient(p.base)
	mustDo(t, ex, "POST", "/api/v1/auth/signup", map[string]any{"email": "ana@mail.test", "password": "amber orchard violin",
		"name": "Ana", "role": "expert", "time_zone": "Europe/Paris"}, nil)
	const nClients, perRound, rounds = 4, 150, 3
	clients := make([]*client, nClients)
	for i := range clients {
		clients[i] = newClient(p.base)
		mustDo(t, clients[i], "POST", "/api/v1/auth/signup", map[string]any{"email": fmt.Sprintf("c%d@mail.test", i),
			"password": "silver meadow compass", "name": fmt.Sprintf("Client %d", i), "role": "client"}, nil)
	}
	var clock struct {
		Now time.Time `json:"now"`
	}
	mustDo(t, ex, "GET", "/api/v1/settings", nil, nil)
	op := newClient(p.base)
	signIn(op, "ops@mail.test", "quiet harbour lantern")
	mustDo(t, op, "GET", "/api/v1/sim/clock", nil, &clock)
	start := clock.Now.Add(10 * 24 * time.Hour).Truncate(time.Hour)
	var slots []control.Slot
	for i := range perRound * rounds {
		var s control.Slot
		mustDo(t, ex, "POST", "/api/v1/me/slots", map[string]any{"start": start.Add(time.Duration(i) * time.Hour), "minutes": 30,
			"price_cents": 2500, "media": []string{"video"}}, &s)
		slots = append(slots, s)
	}
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for round := range rounds {
		var wg sync.WaitGroup
		for ci, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := ci; j < perRound; j += nClients {
					_, _ = c.do("POST", "/api/v1/bookings", map[string]any{"slot_id": slots[round*perRound+j].ID},
						map[string]string{"Idempotency-Key": fmt.Sprintf("r%d-%d", round, j)}, nil)
				}
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		wg.Wait()
		p = spawnWith(t, bin, dataDir, cfg, "--clock=sim")
		for _, c := range append(clients, ex, op) {
			c.rebase(p.base)
		}
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	signIn(op, "ops@mail.test", "quiet harbour lantern")
	// Past the holds' timeout and the senders' lease: everything settles.
	mustDo(t, op, "POST", "/api/v1/sim/clock", map[string]any{"advance": "20m"}, nil)
	want := map[string]bool{} // confirmation Message-IDs owed
	for i, c := range clients {
		signIn(c, fmt.Sprintf("c%d@mail.test", i), "silver meadow compass")
		var bs []control.Booking
		mustDo(t, c, "GET", "/api/v1/bookings?from="+start.Add(-time.Hour).Format(time.RFC3339)+"&to="+start.Add(30*24*time.Hour).Format(time.RFC3339), nil, &bs)
		for _, b := range bs {
			if b.Status == control.StatusConfirmed {
				var me struct {
					User control.User `json:"user"`
				}
				mustDo(t, c, "GET", "/api/v1/me", nil, &me)
				want["booking_confirmed."+b.ID+"."+me.User.ID+"@atlas11.test"] = true
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no booking committed: the load never reached the store")
	}
	// Each confirmation to a client, and one to the expert per booking.
	var list struct {
		Messages []mailSummary `json:"messages"`
	}
	seen := map[string]int{}
	for range 300 { // up to 30 s: hundreds of mails on a loaded machine
		mp.getJSON("/api/v1/messages?limit=2000", &list)
		clear(seen)
		for _, m := range list.Messages {
			if strings.HasPrefix(m.MessageID, "booking_confirmed.") {
				seen[m.MessageID]++
			}
		}
		if len(seen) >= len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	dups := 0
	for id, n := range seen {
		if !want[id] {
			t.Errorf("a confirmation for a booking that is not confirmed: %s", id)
		}
		dups += n - 1
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("confirmation lost: %s", id)
		}
	}
	if dups > rounds {
		t.Errorf("%d repeated confirmations for %d kills", dups, rounds)
	}
	if len(want) == perRound*rounds {
		t.Error("every booking committed: no kill landed during the load")
	}
	t.Logf("%d of %d bookings confirmed, %d confirmations delivered, %d repeated under the same Message-ID",
		len(want), perRound*rounds, len(seen), dups)
}

// The browser walk of a forgotten password: in Chromium, "Mot de passe
// oublié ?" on the sign-in screen mails a link through a real Mailpit; the
// link, opened in the browser, sets a new password and signs in; the old
// password no longer works and the link works only once.
func TestMail_ForgottenPasswordResetFromTheMailInChromium(t *testing.T) {
	mp := startMailpit(t)
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig + fmt.Sprintf("mail:\n  smtp_host: 127.0.0.1\n  smtp_port: %d\n  tls: none\n  from: no-reply@atlas11.test\n", mp.smtp)
	p := spawnWith(t, bin, dataDir, cfg)
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	cl := newClient(p.base)
	mustDo(t, cl, "POST", "/api/v1/auth/signup", map[string]any{"email": "zoe@mail.test", "password": "silver meadow compass",
		"name": "Zoé Blanc", "role": "client", "time_zone": "Europe/Paris"}, nil)

	ctx := webtest.Chrome(t)
	js := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	waitFor := func(what, cond string) {
		t.Helper()
		for range 100 {
			if js(`String(!!(`+cond+`))`) == "true" {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: not within 5 s; page says:\n%s", what, js(`document.body.innerText`))
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.base+"/#/signin")); err != nil {
		t.Fatal(err)
	}
	waitFor("sign-in screen", `document.querySelector('[data-action=forgot]')`)
	js(`document.querySelector('[data-action=forgot]').click(), ''`)
	waitFor("forgot screen", `document.querySelector('#forgot-form')`)
	js(`(() => { const f = document.querySelector('#forgot-form'); f.elements.email.value = 'zoe@mail.test'; f.requestSubmit(); return '' })()`)
	waitFor("sent notice", `document.querySelector('.success')`)

	var msg, verify mailMessage
	for _, s := range mp.waitMessages(2) { // the sign-up's verification, then the reset
		switch m := mp.message(s.ID); {
		case strings.HasPrefix(m.Subject, "Réinitialiser votre mot de passe"):
			msg = m
		case strings.HasPrefix(m.Subject, "Confirmez votre adresse"):
			verify = m
		}
	}
	if msg.ID == "" || verify.ID == "" {
		t.Fatalf("want a verification and a reset mail, got %q and %q", verify.Subject, msg.Subject)
	}
	i := strings.Index(msg.Text, "/#/reset/")
	if i < 0 {
		t.Fatalf("no reset link in:\n%s", msg.Text)
	}
	token := strings.Fields(msg.Text[i+len("/#/reset/"):])[0]
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.base+"/#/reset/"+token)); err != nil {
		t.Fatal(err)
	}
	waitFor("reset screen", `document.querySelector('#reset-form')`)
	js(`(() => { const f = document.querySelector('#reset-form'); f.elements.password.value = 'a brand new passphrase';
		f.elements.confirm.value = 'a brand new passphrase'; f.requestSubmit(); return '' })()`)
	waitFor("signed in", `document.body.innerText.includes('Mot de passe changé')`)
	if got := js(`fetch('/api/v1/me').then(r => r.json()).then(m => m.user.email)`); got != "zoe@mail.test" {
		t.Fatalf("signed in as %q", got)
	}
	if _, err := cl.do("GET", "/api/v1/me", nil, nil, nil); err == nil {
		t.Fatal("the session from before the reset still works")
	}
	old := newClient(p.base)
	if code, _ := old.do("POST", "/api/v1/auth/signin", map[string]any{"email": "zoe@mail.test", "password": "silver meadow compass"}, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", code)
	}
	// The sign-up's verification link, followed in the browser.
	j := strings.Index(verify.Text, "/#/verify/")
	if j < 0 {
		t.Fatalf("no verification link in:\n%s", verify.Text)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(p.base+"/#/verify/"+strings.Fields(verify.Text[j+len("/#/verify/"):])[0])); err != nil {
		t.Fatal(err)
	}
	waitFor("verified", `document.querySelector('#verify-result.success')`)
	if got := js(`fetch('/api/v1/me').then(r => r.json()).then(m => String(m.user.email_verified))`); got != "true" {
		t.Fatalf("email_verified after the link: %s", got)
	}
	again := newClient(p.base)
	if code, _ := again.do("POST", "/api/v1/auth/password-reset/confirm", map[string]any{"token": token, "password": "one more passphrase"}, nil, nil); code != http.StatusBadRequest {
		t.Fatalf("the link used twice: %d", code)
	}
}
