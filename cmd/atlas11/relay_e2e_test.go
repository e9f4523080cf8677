package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"atlas11/control"
	"atlas11/web/webtest"
)

// relayTokenView is what POST /api/v1/calls/{room}/token returns.
type relayTokenView struct {
	Token        string `json:"token"`
	SignalingURL string `json:"signaling_url"`
	ICEServers   []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	} `json:"ice_servers"`
}

// relayTab is one browser tab on the binary's call page.
type relayTab struct {
	who string
	ctx context.Context
}

// Issue 4 through the real binary (CALL-1, APT-1): in a 1:1 video
// appointment on the simulated clock, the expert's and the client's
// Chromium tabs may use relay candidates only, with the TURN credentials
// the token endpoint minted for each of them. Each side decodes the other's
// video, every selected candidate pair is a relay of ours, and the relay's
// own counters carry at least every byte the SFU received and the browsers
// were sent.
func TestRelayE2E_CALL1_ChromiumThroughEmbeddedTURNToSFU(t *testing.T) {
	w := newWorld(t)
	expert, expertID := w.user("expert")
	cl, clientID := w.user("client")
	start := w.now().Add(3 * time.Hour).Truncate(time.Minute)
	var slot control.Slot
	mustDo(t, expert, "POST", "/api/v1/me/slots", control.OneOffSlot{Start: start, Minutes: 30, PriceCents: 2500,
		Media: []control.MediaKind{control.MediaVideo}}, &slot)
	var b control.Booking
	if _, err := cl.do("POST", "/api/v1/bookings", map[string]any{"slot_id": slot.ID},
		map[string]string{"Idempotency-Key": "relay-" + slot.ID}, &b); err != nil {
		t.Fatal(err)
	}
	w.advance(3 * time.Hour) // the appointment starts: the room is open

	before := relayScrape(t, w.base)
	if before["atlas11_turn_relayed_bytes_total"] == nil {
		t.Fatal("/metrics has no atlas11_turn_relayed_bytes_total: the embedded relay is not running")
	}
	browser := webtest.Chrome(t)
	tabs := []relayTab{
		{"expert", openRelayCall(t, w, browser, expert, expertID, b.Room)},
		{"client", openRelayCall(t, w, browser, cl, clientID, b.Room)},
	}
	for _, tab := range tabs {
		waitRelayDecoding(t, tab)
	}
	for _, tab := range tabs {
		for pc, cand := range relaySelectedCandidates(t, tab.ctx) {
			if !strings.HasPrefix(cand, "relay ") {
				t.Errorf("%s's %s connection selected local candidate %q, want a relay", tab.who, pc, cand)
			} else {
				t.Logf("%s %s: %s", tab.who, pc, cand)
			}
		}
	}

	// Lower bounds first, the relay's counters after: every RTP byte the SFU
	// took in and every byte a browser got crossed the relay, whose counters
	// also include SRTP tags and headers.
	var received float64
	for _, tab := range tabs {
		received += relayBytesReceived(t, tab.ctx)
	}
	mid := relayScrape(t, w.base)
	sfuIn := relayCounter(mid, "atlas11_sfu_bytes_in_total", "") - relayCounter(before, "atlas11_sfu_bytes_in_total", "")
	after := relayScrape(t, w.base)
	toPeer := relayed(after, "to_peer") - relayed(before, "to_peer")
	fromPeer := relayed(after, "from_peer") - relayed(before, "from_peer")
	t.Logf("relayed to_peer=%.0f (SFU took in %.0f RTP bytes) from_peer=%.0f (browsers received %.0f)", toPeer, sfuIn, fromPeer, received)
	if sfuIn <= 0 || toPeer < sfuIn {
		t.Errorf("relayed to the SFU %.0f bytes, but the SFU took in %.0f: media bypassed the relay", toPeer, sfuIn)
	}
	if received <= 0 || fromPeer < received {
		t.Errorf("relayed from the SFU %.0f bytes, but the browsers received %.0f: media bypassed the relay", fromPeer, received)
	}
	// The call goes on, so the counters keep growing.
	relayWaitFor(t, 20*time.Second, "relayed bytes keep growing", func() bool {
		m := relayScrape(t, w.base)
		return relayed(m, "to_peer") > relayed(after, "to_peer") && relayed(m, "from_peer") > relayed(after, "from_peer")
	})
	webtest.Screenshot(t, tabs[1].ctx, "relay-call-client")
}

// openRelayCall mints a call token as c, checks it carries TURN credentials
// for this user only, and opens the call page on them with relay-only ICE.
func openRelayCall(t *testing.T, w *world, browser context.Context, c *client, userID, room string) context.Context {
	t.Helper()
	var tok relayTokenView
	mustDo(t, c, "POST", "/api/v1/calls/"+room+"/token", nil, &tok)
	if len(tok.ICEServers) == 0 {
		t.Fatalf("token for %s came without ICE servers", userID)
	}
	ice := tok.ICEServers[0]
	// TURN REST credentials: "expiry:userID", minted for the admitted user.
	if !strings.HasSuffix(ice.Username, ":"+userID) || ice.Credential == "" || len(ice.URLs) == 0 ||
		!strings.HasPrefix(ice.URLs[0], "turn:") {
		t.Fatalf("ICE server for %s: %+v", userID, ice)
	}
	iceJSON, _ := json.Marshal(tok.ICEServers)
	frag := url.Values{
		"token":  {tok.Token},
		"ws":     {"ws" + strings.TrimPrefix(w.base, "http") + tok.SignalingURL},
		"ice":    {string(iceJSON)},
		"policy": {"relay"},
	}
	tab := webtest.Tab(t, browser)
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/call/#"+frag.Encode())); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// waitRelayDecoding waits until the tab decodes the other side's video.
func waitRelayDecoding(t *testing.T, tab relayTab) {
	t.Helper()
	frames := func() int {
		s, err := chromedp.Run(tab.ctx, chromedp.Evaluate[struct {
			FramesDecoded int `json:"framesDecoded"`
		}](`window.atlasCall.stats()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s stats: %v", tab.who, err)
		}
		return s.FramesDecoded
	}
	var first int
	relayWaitFor(t, 45*time.Second, tab.who+" decodes video through the relay", func() bool {
		first = frames()
		return first > 0
	})
	relayWaitFor(t, 20*time.Second, tab.who+"'s framesDecoded keeps rising", func() bool { return frames() > first })
}

// relaySelectedCandidates returns, for each of the page's peer connections,
// the type, protocol and address of the local candidate ICE selected.
func relaySelectedCandidates(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(async () => {
		const out = {};
		for (const [name, pc] of Object.entries(window.atlasCall.peers())) {
			if (!pc) { out[name] = "no connection"; continue; }
			const stats = await pc.getStats();
			let v = "none selected";
			stats.forEach((s) => {
				if (s.type !== "transport" || !s.selectedCandidatePairId) return;
				const pair = stats.get(s.selectedCandidatePairId);
				const l = pair && stats.get(pair.localCandidateId);
				const r = pair && stats.get(pair.remoteCandidateId);
				if (l) v = l.candidateType + " " + (l.relayProtocol || l.protocol) + " " + l.address + ":" + l.port +
					" -> " + (r ? r.address + ":" + r.port : "?");
			});
			out[name] = v;
		}
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("candidate stats: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("page has connections %v, want pub and sub", got)
	}
	return got
}

// relayBytesReceived sums the RTP payload bytes the page's receiving connection got.
func relayBytesReceived(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(async () => {
		const sub = window.atlasCall.peers().sub;
		let n = 0;
		if (sub) (await sub.getStats()).forEach((r) => { if (r.type === "inbound-rtp") n += r.bytesReceived || 0; });
		return n;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("inbound stats: %v", err)
	}
	return n
}

// relayScrape reads and parses the binary's /metrics.
func relayScrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(adminOf(t, base) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// relayCounter is the counter's value for the series whose direction label
// is dir ("" for an unlabelled counter), 0 when absent.
func relayCounter(mfs map[string]*dto.MetricFamily, name, dir string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	for _, m := range mf.GetMetric() {
		d := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "direction" {
				d = l.GetValue()
			}
		}
		if d == dir {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func relayed(mfs map[string]*dto.MetricFamily, dir string) float64 {
	return relayCounter(mfs, "atlas11_turn_relayed_bytes_total", dir)
}

// relayWaitFor polls cond every 200 ms until it holds or d has passed.
func relayWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
