package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// roles of the participants, by index: the stalled one first, then the capped
// ones, then ordinary ones; the late joiners last.
type roles struct {
	stalled   int // -1: none
	capped    []int
	lateFrom  int
	nInitial  int
	nSubs     int
	lateCount int
}

func assignRoles(cfg config) roles {
	r := roles{stalled: -1, nSubs: cfg.subscribers, lateCount: cfg.late}
	r.nInitial = cfg.subscribers - cfg.late
	r.lateFrom = r.nInitial
	next := 0
	if cfg.stall {
		r.stalled = 0
		next = 1
	}
	for i := 0; i < cfg.capped; i++ {
		r.capped = append(r.capped, next+i)
	}
	return r
}

func (r roles) isCapped(i int) bool {
	for _, c := range r.capped {
		if c == i {
			return true
		}
	}
	return false
}

// schedule holds when things happened, in epoch nanoseconds.
type schedule struct {
	t0, end              int64
	capStart, capEnd     int64
	stallStart, stallEnd int64
}

// runLoad runs one measurement and prints its report as the last line.
func runLoad(ctx context.Context, cfg config, adm admission, metricsURL string, out io.Writer) error {
	// Everything below is bounded: the whole run cannot outlive this.
	ctx, cancel := context.WithTimeout(ctx, cfg.duration+3*time.Minute)
	defer cancel()
	ep := newEpoch()
	var outMu sync.Mutex
	logf := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, "[%6.2fs] %s\n", time.Duration(ep.now()).Seconds(), fmt.Sprintf(format, args...))
	}
	rl := assignRoles(cfg)
	logf("atlas11-load: 1 expert -> %d participants (%d late x %d joins, %d capped at %d kbit/s, stall %v), %s",
		cfg.subscribers, cfg.late, cfg.lateCycles, cfg.capped, cfg.capKbps, cfg.stall, cfg.duration)
	if err := adm.prepare(ctx, cfg.subscribers, &lineWriter{logf: logf}); err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	m0, err := scrape(ctx, hc, metricsURL)
	if err != nil {
		return err
	}

	tk, err := adm.ticket(ctx, -1)
	if err != nil {
		return fmt.Errorf("expert: %w", err)
	}
	pub, err := startPublisher(ctx, tk.signalingURL, tk.token, cfg.spec, ep)
	if err != nil {
		return err
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		pub.run(pubCtx)
	}()
	defer func() {
		stopPub()
		<-pubDone
		pub.close()
	}()
	logf("expert publishing q/h/f at %d/%d/%d kbit/s + Opus", cfg.spec.bitrates[0]/1000, cfg.spec.bitrates[1]/1000, cfg.spec.bitrates[2]/1000)

	subs := make([]*subscriber, cfg.subscribers)
	for i := range subs {
		s := newSubscriber(i, ep, rl.isCapped(i))
		s.noTWCC = !cfg.twcc
		if rl.isCapped(i) {
			s.onLayer = func(l int) { logf("%s (capped) now receives layer %s", s.name, layerRIDs()[l]) }
		}
		subs[i] = s
	}
	defer func() {
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.leave()
			}()
		}
		wg.Wait()
	}()
	err = parallel(ctx, rl.nInitial, cfg.joinWorkers, func(ctx context.Context, i int) error {
		tk, err := adm.ticket(ctx, i)
		if err != nil {
			return fmt.Errorf("participant %d: %w", i, err)
		}
		return subs[i].join(ctx, tk.signalingURL, tk.token)
	})
	if err != nil {
		return err
	}
	ready := 0
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < rl.nInitial; i++ {
		if subs[i].firstFrame(ctx, time.Until(deadline)) {
			ready++
		}
	}
	logf("%d/%d participants joined and showing video", ready, rl.nInitial)

	m1, err := scrape(ctx, hc, metricsURL)
	if err != nil {
		return err
	}
	cpu1 := processCPU()
	sc := schedule{t0: ep.now()}
	sc.end = sc.t0 + int64(cfg.duration)
	schedCtx, stopSched := context.WithDeadline(ctx, ep.at(sc.end))
	defer stopSched()
	var wg sync.WaitGroup
	var schedMu sync.Mutex
	if len(rl.capped) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := min(2*time.Second, cfg.duration/5)
			if !sleepCtx(schedCtx, time.Until(ep.at(sc.t0+int64(start)))) {
				return
			}
			for _, i := range rl.capped {
				subs[i].sh.setRate(int64(cfg.capKbps) * 1000)
			}
			schedMu.Lock()
			sc.capStart = ep.now()
			schedMu.Unlock()
			logf("cap: %d participant(s) limited to %d kbit/s", len(rl.capped), cfg.capKbps)
			sleepCtx(schedCtx, time.Until(ep.at(sc.t0+int64(cfg.duration/2))))
			for _, i := range rl.capped {
				subs[i].sh.setRate(0)
			}
			schedMu.Lock()
			sc.capEnd = ep.now()
			schedMu.Unlock()
			logf("cap lifted")
		}()
	}
	if rl.stalled >= 0 && cfg.stallFor > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := min(3*time.Second, cfg.duration/5)
			if !sleepCtx(schedCtx, time.Until(ep.at(sc.t0+int64(start)))) {
				return
			}
			d := min(cfg.stallFor, time.Duration(sc.end-ep.now())-time.Second)
			if d <= 0 {
				return
			}
			schedMu.Lock()
			sc.stallStart = ep.now()
			schedMu.Unlock()
			logf("stall: %s stops reading media for %s", subs[rl.stalled].name, d)
			subs[rl.stalled].stall(schedCtx, d)
			schedMu.Lock()
			sc.stallEnd = ep.now()
			schedMu.Unlock()
			logf("stall: %s reads again", subs[rl.stalled].name)
		}()
	}
	for k := 0; k < rl.lateCount; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := subs[rl.lateFrom+k]
			if !sleepCtx(schedCtx, time.Second+time.Duration(k)*700*time.Millisecond) {
				return
			}
			for c := 0; c < cfg.lateCycles && schedCtx.Err() == nil; c++ {
				if c > 0 {
					s.leave()
					if !sleepCtx(schedCtx, 300*time.Millisecond) {
						return
					}
				}
				tk, err := adm.ticket(schedCtx, rl.lateFrom+k)
				if err == nil {
					err = s.join(schedCtx, tk.signalingURL, tk.token)
				}
				if err != nil {
					logf("late join of %s failed: %v", s.name, err)
					return
				}
				if !s.firstFrame(schedCtx, 5*time.Second) {
					logf("late join of %s: no video within 5s", s.name)
				}
				if !sleepCtx(schedCtx, time.Second) {
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // progress
		defer wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		var lastPkts int64
		for {
			select {
			case <-schedCtx.Done():
				return
			case <-t.C:
			}
			now := ep.now()
			recv, pkts := 0, int64(0)
			for _, s := range subs {
				if now-s.st.lastVideoNs.Load() < int64(time.Second) {
					recv++
				}
				pkts += s.st.videoPackets.Load()
			}
			logf("%d/%d receiving, %.0f video packets/s delivered, expert sent %d packets", recv, len(subs),
				float64(pkts-lastPkts)/2, pub.packets.Load())
			lastPkts = pkts
		}
	}()
	<-schedCtx.Done()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	m2, err := scrape(ctx, hc, metricsURL)
	if err != nil {
		return err
	}
	sc.end = ep.now()
	stopSched()
	wg.Wait()
	rep := buildReport(cfg, rl, sc, subs, pub, m0, m1, m2)
	if secs := time.Duration(sc.end - sc.t0).Seconds(); secs > 0 {
		rep.ClientCPUPct = round((processCPU() - cpu1).Seconds() / secs * 100)
	}
	logf("measurement done; leaving")
	serverLat := fmtp(rep.ServerLatencyMsP99)
	if rep.ServerLatencyAbove {
		serverLat = "> 100"
	}
	logf("summary: %d/%d receiving, loss %s %%, first frame p50/p95 %s/%s ms, latency p99 %s ms (server %s ms), "+
		"%.0f egress packets/s, server %s µs CPU per egress packet, %d layer switches, final layers q/h/f %v, "+
		"stall latency rise %s ms, cap settle %s ms, back on top %s ms",
		rep.SubscribersReceiving, rep.Subscribers, fmtp(rep.LossPct), fmtp(rep.FirstFrameMsP50), fmtp(rep.FirstFrameMsP95),
		fmtp(rep.ForwardLatencyMsP99), serverLat, rep.EgressPacketsPerS, fmtp(rep.ServerCPUUsPerPacket),
		rep.LayerSwitches, rep.FinalLayers, fmtp(rep.StallLatencyRiseMs), fmtp(rep.CapSettleLowMs), fmtp(rep.CapReturnTopMs))
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	outMu.Lock()
	defer outMu.Unlock()
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// fmtp prints a figure that may be missing.
func fmtp(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", *v)
}

// processCPU is the CPU time this process used so far (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sleepCtx sleeps d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// lineWriter turns writes into progress lines.
type lineWriter struct{ logf func(string, ...any) }

func (w *lineWriter) Write(p []byte) (int, error) {
	s := string(p)
	for len(s) > 0 && (s[len(s)-1] == '\n') {
		s = s[:len(s)-1]
	}
	if s != "" {
		w.logf("%s", s)
	}
	return len(p), nil
}
