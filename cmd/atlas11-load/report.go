package main

import (
	"math"
	"sort"
	"time"
)

// loadReport is the last line of output. Figures that could not be measured are null.
type loadReport struct {
	Subscribers          int      `json:"subscribers"`
	SubscribersReceiving int      `json:"subscribers_receiving"`
	DurationS            float64  `json:"duration_s"`
	LossPct              *float64 `json:"loss_pct"` // participants neither capped nor stalled
	FirstFrameMsP50      *float64 `json:"first_frame_ms_p50"`
	FirstFrameMsP95      *float64 `json:"first_frame_ms_p95"`
	FirstFrameSamples    int      `json:"first_frame_samples"`
	InitialFirstFrameP95 *float64 `json:"initial_join_first_frame_ms_p95"` // the initial burst of joins
	ForwardLatencyMsP50  *float64 `json:"forward_latency_ms_p50"`
	ForwardLatencyMsP99  *float64 `json:"forward_latency_ms_p99"`        // publisher write -> subscriber read, through both Pion stacks
	ServerLatencyMsP99   *float64 `json:"server_forward_latency_ms_p99"` // from the SFU's histogram
	ServerLatencyAbove   bool     `json:"server_forward_latency_p99_above_buckets"`
	EgressPackets        float64  `json:"egress_packets"`
	EgressPacketsPerS    float64  `json:"egress_packets_per_s"`
	ServerCPUUsPerPacket *float64 `json:"server_cpu_us_per_egress_packet"`
	ServerCPUPct         float64  `json:"server_cpu_pct"` // of one core
	ServerCPUUsInclSetup *float64 `json:"server_cpu_us_per_egress_packet_incl_joins"`
	LayerSwitches        int      `json:"layer_switches"` // seen by the participants
	ServerLayerSwitches  float64  `json:"server_layer_switches"`
	DroppedPackets       float64  `json:"server_dropped_packets"`
	NACKs                float64  `json:"server_nacks"`
	Retransmits          float64  `json:"server_retransmits"`
	ServerPLIs           float64  `json:"server_plis_sent"`
	ClientPLIs           int      `json:"client_plis_sent"`
	PublisherKeyframeReq int64    `json:"publisher_keyframe_requests"`

	ClientCPUPct float64 `json:"client_cpu_pct"` // this tool, of one core: near 100 x cores it is the bottleneck
	FinalLayers  [3]int  `json:"final_layers"`   // participants on q, h, f at the end

	Stalled               bool     `json:"stall"`
	StallS                float64  `json:"stall_s"`
	StallOthersLossPct    *float64 `json:"stall_others_loss_pct"`
	StallOthersLatencyP99 *float64 `json:"stall_others_latency_ms_p99"`
	BaselineLatencyP99    *float64 `json:"baseline_latency_ms_p99"`
	StallLatencyRiseMs    *float64 `json:"stall_latency_rise_ms"`
	StallRecoverMs        *float64 `json:"stall_recover_ms"`
	StalledLossPct        *float64 `json:"stalled_loss_pct"`

	Capped         int      `json:"capped"`
	CapKbps        int      `json:"cap_kbps"`
	CapS           float64  `json:"cap_s"`
	CapSettleLowMs *float64 `json:"cap_settle_low_ms"` // worst capped participant
	CapReturnTopMs *float64 `json:"cap_return_top_ms"` // worst capped participant
	CappedLossPct  *float64 `json:"capped_loss_pct"`
	CapShaperDrops int64    `json:"cap_shaper_drops"`
}

func buildReport(cfg config, rl roles, sc schedule, subs []*subscriber, pub *publisher, m0, m1, m2 metricsSnap) loadReport {
	r := loadReport{Subscribers: len(subs), DurationS: round(time.Duration(sc.end - sc.t0).Seconds()),
		Stalled: rl.stalled >= 0 && sc.stallStart != 0, Capped: len(rl.capped), CapKbps: cfg.capKbps}
	var (
		regExp, regRecv, capExp, capRecv int64
		lateFF, initFF                   []float64
		base, during                     []float64
		all                              []float64
	)
	stallTo := sc.stallEnd + int64(time.Second) // let the others' queues settle
	for i, s := range subs {
		st := &s.st
		st.mu.Lock()
		if st.lastVideoNs.Load() >= sc.end-int64(time.Second) {
			r.SubscribersReceiving++
		}
		exp, recv := st.expected, st.received
		for _, t := range []*seqTracker{&st.video, &st.audio} {
			e, rc := t.counts()
			exp += e
			recv += rc
		}
		r.LayerSwitches += st.switches
		if st.cur >= 0 && st.cur <= 2 {
			r.FinalLayers[st.cur]++
		}
		r.ClientPLIs += st.plisSent
		switch {
		case i == rl.stalled:
			r.StalledLossPct = pct(exp-recv, exp)
			if st.resumedAt != 0 && st.recoveredAt != 0 {
				r.StallRecoverMs = ptr(float64(st.recoveredAt-st.resumedAt) / 1e6)
			}
		case rl.isCapped(i):
			capExp += exp
			capRecv += recv
			settle, back := capFigures(st.layers, sc.capStart, sc.capEnd)
			r.CapSettleLowMs = worst(r.CapSettleLowMs, settle, i == rl.capped[0])
			r.CapReturnTopMs = worst(r.CapReturnTopMs, back, i == rl.capped[0])
			r.CapShaperDrops += s.sh.dropped.Load()
		default:
			regExp += exp
			regRecv += recv
			for _, l := range st.lat {
				if l.at < sc.t0 || l.at > sc.end {
					continue
				}
				ms := float64(l.lat) / 1000
				all = append(all, ms)
				if r.Stalled && l.at >= sc.stallStart && l.at <= stallTo {
					during = append(during, ms)
				} else {
					base = append(base, ms)
				}
			}
		}
		if i >= rl.lateFrom {
			lateFF = append(lateFF, st.firstFrames...)
		} else if len(st.firstFrames) > 0 {
			initFF = append(initFF, st.firstFrames[0])
		}
		st.mu.Unlock()
	}
	r.LossPct = pct(regExp-regRecv, regExp)
	r.CappedLossPct = pct(capExp-capRecv, capExp)
	r.FirstFrameSamples = len(lateFF)
	r.FirstFrameMsP50 = quantile(lateFF, 0.50)
	r.FirstFrameMsP95 = quantile(lateFF, 0.95)
	r.InitialFirstFrameP95 = quantile(initFF, 0.95)
	r.ForwardLatencyMsP50 = quantile(all, 0.50)
	r.ForwardLatencyMsP99 = quantile(all, 0.99)
	if r.Stalled {
		r.StallS = round(time.Duration(sc.stallEnd - sc.stallStart).Seconds())
		r.StallOthersLossPct = r.LossPct
		r.StallOthersLatencyP99 = quantile(during, 0.99)
		r.BaselineLatencyP99 = quantile(base, 0.99)
		if r.StallOthersLatencyP99 != nil && r.BaselineLatencyP99 != nil {
			r.StallLatencyRiseMs = ptr(*r.StallOthersLatencyP99 - *r.BaselineLatencyP99)
		}
	}
	if sc.capStart != 0 {
		r.CapS = round(time.Duration(sc.capEnd - sc.capStart).Seconds())
	}

	secs := time.Duration(sc.end - sc.t0).Seconds()
	r.EgressPackets = delta(m1, m2, mEgress)
	if secs > 0 {
		r.EgressPacketsPerS = round(r.EgressPackets / secs)
		r.ServerCPUPct = round(delta(m1, m2, mCPU) / secs * 100)
	}
	if r.EgressPackets > 0 {
		r.ServerCPUUsPerPacket = ptr(delta(m1, m2, mCPU) * 1e6 / r.EgressPackets)
	}
	if e := delta(m0, m2, mEgress); e > 0 {
		r.ServerCPUUsInclSetup = ptr(delta(m0, m2, mCPU) * 1e6 / e)
	}
	switch q := histQuantile(m1, m2, mLatencyBkt, 0.99); {
	case math.IsInf(q, 1):
		r.ServerLatencyAbove = true
	case !math.IsNaN(q):
		r.ServerLatencyMsP99 = ptr(q * 1000)
	}
	r.ServerLayerSwitches = delta(m1, m2, mSwitches)
	r.DroppedPackets = delta(m1, m2, mDropped)
	r.NACKs = delta(m1, m2, mNACKs)
	r.Retransmits = delta(m1, m2, mRetransmits)
	r.ServerPLIs = delta(m1, m2, mPLIs)
	r.PublisherKeyframeReq = pub.plis.Load()
	return r
}

// capFigures reads one capped participant's layer history: how long after the
// cap it settled on the low layer for good, and how long after the cap lifted
// it was back on the top layer. nil: never.
func capFigures(layers []layerChange, capStart, capEnd int64) (settle, back *float64) {
	if capStart == 0 || capEnd == 0 {
		return nil, nil
	}
	at := func(t int64) int {
		l := -1
		for _, c := range layers {
			if c.at > t {
				break
			}
			l = c.layer
		}
		return l
	}
	if at(capEnd) == 0 {
		from := capStart
		for _, c := range layers {
			if c.at > capStart && c.at <= capEnd {
				from = c.at // the last change before the lift is the one that stuck
			}
		}
		settle = ptr(float64(from-capStart) / 1e6)
	}
	if at(capEnd) == 2 {
		back = ptr(0)
	} else {
		for _, c := range layers {
			if c.at > capEnd && c.layer == 2 {
				back = ptr(float64(c.at-capEnd) / 1e6)
				break
			}
		}
	}
	return settle, back
}

// worst keeps the larger figure; nil (never) beats everything.
func worst(cur, v *float64, first bool) *float64 {
	if first {
		return v
	}
	if cur == nil || v == nil {
		return nil
	}
	if *v > *cur {
		return v
	}
	return cur
}

func quantile(xs []float64, q float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return ptr(s[i])
}

func pct(lost, expected int64) *float64 {
	if expected <= 0 {
		return nil
	}
	if lost < 0 {
		lost = 0
	}
	return ptr(100 * float64(lost) / float64(expected))
}

func ptr(v float64) *float64 { v = round(v); return &v }

func round(v float64) float64 { return math.Round(v*1000) / 1000 }
