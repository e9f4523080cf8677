package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"atlas11/sfu"
)

// fakeAdmission admits anyone with a token "host" or "guest-N" into one event
// room: the narrow seam between the media path and the control plane.
type fakeAdmission struct{ sigURL string }

func (f *fakeAdmission) prepare(context.Context, int, io.Writer) error { return nil }

func (f *fakeAdmission) ticket(_ context.Context, who int) (ticket, error) {
	tok := "host"
	if who >= 0 {
		tok = "guest-" + string(rune('a'+who))
	}
	return ticket{token: tok, signalingURL: f.sigURL}, nil
}

type fakeAdmitter struct{}

func (fakeAdmitter) Admit(_ context.Context, token string) (sfu.Admission, error) {
	a := sfu.Admission{Room: "load-room", User: token, Name: token, Role: sfu.RoleGuest, Kind: sfu.KindEvent,
		Media: sfu.MediaVideo, Capacity: 49, Expires: time.Now().Add(time.Hour)}
	if token == "host" {
		a.Role = sfu.RoleHost
	}
	return a, nil
}

type noPresence struct{}

func (noPresence) Presence(sfu.PresenceEvent) {}

// startSFU runs a real media server in-process behind its signaling handler
// and its own /metrics (with process CPU, as the binary exports).
func startSFU(t *testing.T) (sigURL, metricsURL string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true},
		sfu.Deps{Admitter: fakeAdmitter{}, Presence: noPresence{}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/rtc", srv.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/api/v1/rtc", hs.URL + "/metrics"
}

// lastJSON decodes the last line of the tool's output.
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	return m
}

func num(t *testing.T, m map[string]any, k string) float64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("%s = %v, want a number", k, m[k])
	}
	return v
}

// CALL-2: the expert's simulcast reaches every participant, each at the
// quality its link carries, a stuck one hurting nobody; the tool measures it
// and ends with one JSON line holding every figure the issue asks for.
func TestLoad_CALL2_FanOutMeasuredWithCapStallAndLateJoins(t *testing.T) {
	sigURL, metricsURL := startSFU(t)
	cfg, err := parseConfig([]string{"-subscribers", "6", "-late", "2", "-late-cycles", "2", "-capped", "1",
		"-stall-for", "2s", "-duration", "8s"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := runLoad(ctx, cfg, &fakeAdmission{sigURL: sigURL}, metricsURL, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	m := lastJSON(t, out.String())
	for _, k := range []string{"subscribers", "subscribers_receiving", "loss_pct", "first_frame_ms_p50",
		"first_frame_ms_p95", "forward_latency_ms_p99", "egress_packets", "server_cpu_us_per_egress_packet", "layer_switches"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if got := num(t, m, "subscribers_receiving"); got != 6 {
		t.Errorf("subscribers_receiving = %v, want 6", got)
	}
	// Late joins that saw no video within 5 s give no sample; on this shared
	// machine under -race a few may time out, but not most.
	if got := num(t, m, "first_frame_samples"); got < 2 {
		t.Errorf("first_frame_samples = %v of 4 late joins", got)
	}
	if got := num(t, m, "egress_packets"); got < 1000 {
		t.Errorf("egress_packets = %v, want the fan-out's thousands", got)
	}
	num(t, m, "server_cpu_us_per_egress_packet")
	num(t, m, "forward_latency_ms_p99")
	// Figures are measured, not judged: targets belong to the load command.
	num(t, m, "loss_pct")
}
