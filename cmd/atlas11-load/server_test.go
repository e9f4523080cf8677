package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	testOpEmail    = "ops@example.test"
	testOpPassword = "correct horse battery 7" // the policy refuses one holding the name
)

// startAtlas11 builds the real atlas11 binary, creates an operator, and serves
// it with the simulation clock on a free loopback port. It returns the base
// URL and the admin listener's /metrics URL.
func startAtlas11(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "atlas11")
	build := exec.Command("go", "build", "-o", bin, "atlas11/cmd/atlas11")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build atlas11: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	// A free media port and no TURN relay: nothing fixed that a parallel test could hold.
	cfgFile := filepath.Join(dir, "atlas11.yaml")
	if err := os.WriteFile(cfgFile, []byte("admin_addr: 127.0.0.1:0\nsfu:\n  udp_port: 0\n  tcp_port: -1\nturn:\n  enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	op := exec.Command(bin, "operator", "create", "--config", cfgFile, "--email", testOpEmail, "--name", "Load Operator", "--data", data, "--password-stdin")
	op.Stdin = strings.NewReader(testOpPassword + "\n")
	if out, err := op.CombinedOutput(); err != nil {
		t.Fatalf("atlas11 operator create: %v\n%s", err, out)
	}
	srv := exec.Command(bin, "serve", "--config", cfgFile, "--clock=sim", "--addr", "127.0.0.1:0", "--data", data)
	srv.Stderr = io.Discard
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = srv.Process.Kill()
			t.Error("atlas11 did not drain within 20s of SIGTERM")
		}
	})
	base := make(chan string, 1)
	admin := make(chan string, 1)
	go func() {
		defer close(exited)
		defer func() { _ = srv.Wait() }()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "admin: listening on "); ok {
				admin <- strings.TrimSpace(u) + "/metrics"
			}
			if u, ok := strings.CutPrefix(sc.Text(), "http: listening on "); ok {
				base <- strings.TrimSpace(u)
			}
		}
	}()
	select {
	case u := <-base:
		return u, <-admin // printed before the main listener's line
	case <-exited:
		t.Fatal("atlas11 exited before listening")
	case <-time.After(60 * time.Second):
		t.Fatal("atlas11 did not listen within 60s")
	}
	return "", ""
}

// Against the real binary (built once): CALL-1 admission, then CALL-2 fan-out.
func TestRealServer_CALL1_Admission_CALL2_FanOut(t *testing.T) {
	base, metrics := startAtlas11(t)
	t.Run("CALL1_AdmissionPath", func(t *testing.T) { testAdmission(t, base) })
	t.Run("CALL2_RunAgainstRealServer", func(t *testing.T) { testRun(t, base, metrics) })
}

// CALL-1: the tool walks the real admission path — sign-ups, an event within
// the cap, paid registrations, the operator moving the simulation clock into
// the opening window — and gets a call token for the expert and each client.
func testAdmission(t *testing.T, base string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := newAPIAdmission(base, testOpEmail, testOpPassword)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if err := adm.prepare(ctx, 3, &log); err != nil {
		t.Fatalf("prepare: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "simulation clock moved") {
		t.Errorf("the sim clock was not moved:\n%s", log.String())
	}
	for who := -1; who < 3; who++ {
		tk, err := adm.ticket(ctx, who)
		if err != nil {
			t.Fatalf("ticket %d: %v", who, err)
		}
		if tk.token == "" || !strings.HasPrefix(tk.signalingURL, "ws://127.0.0.1:") || !strings.HasSuffix(tk.signalingURL, "/api/v1/rtc") {
			t.Fatalf("ticket %d: %+v", who, tk)
		}
	}
}

// CALL-2 end to end: the tool's main logic against the real binary — the
// control plane admits everyone, the SFU carries the expert's simulcast to
// every participant, and the last line holds the figures.
func testRun(t *testing.T, base, metrics string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out strings.Builder
	args := []string{"-url", base, "-metrics-url", metrics, "-subscribers", "4", "-late", "1", "-late-cycles", "2", "-capped", "1",
		"-stall-for", "2s", "-duration", "6s"}
	env := map[string]string{"ATLAS11_OPERATOR_EMAIL": testOpEmail, "ATLAS11_OPERATOR_PASSWORD": testOpPassword}
	if err := run(ctx, args, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	m := lastJSON(t, out.String())
	if got := num(t, m, "subscribers_receiving"); got != 4 {
		t.Errorf("subscribers_receiving = %v, want 4", got)
	}
	if got := num(t, m, "first_frame_samples"); got < 1 {
		t.Errorf("first_frame_samples = %v of 2 late joins", got)
	}
	num(t, m, "loss_pct")
	if got := num(t, m, "egress_packets"); got < 500 {
		t.Errorf("egress_packets = %v", got)
	}
	num(t, m, "server_cpu_us_per_egress_packet")
	num(t, m, "forward_latency_ms_p99")
}
