package sfu

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the SFU's Prometheus series. No per-room or per-user labels.
type metrics struct {
	log *slog.Logger // for the media path's rare events

	rooms, participants, tracks                       prometheus.Gauge
	packetsIn, bytesIn, packetsOut, bytesOut, dropped prometheus.Counter
	malformed, nacks, retransmits, plis               prometheus.Counter
	sendRefused, directOut, directIn                  prometheus.Counter
	layerSwitches                                     prometheus.Counter
	joins                                             prometheus.Counter
	chatDropped, chatRefused                          prometheus.Counter
	refusals                                          *prometheus.CounterVec
	bandwidth, forwardLatency, joinToFirst            prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns = "atlas11_sfu_"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: ns + name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + name, Help: help})
	}
	m := &metrics{
		rooms:         gauge("rooms", "Rooms with at least one participant."),
		participants:  gauge("participants", "Participants in rooms, including those within the reconnect grace period."),
		tracks:        gauge("tracks", "Published tracks being forwarded."),
		packetsIn:     counter("packets_in_total", "RTP packets received from publishers."),
		bytesIn:       counter("bytes_in_total", "RTP bytes received from publishers."),
		directIn:      counter("packets_in_direct_total", "RTP packets from publishers that the media socket's reader decrypted and forwarded itself; the rest came through pion."),
		packetsOut:    counter("packets_out_total", "RTP packets sent to subscribers, retransmissions included."),
		bytesOut:      counter("bytes_out_total", "RTP bytes sent to subscribers."),
		directOut:     counter("packets_out_direct_total", "RTP packets to subscribers that the SFU encrypted itself and wrote straight to the media UDP socket; the rest went through pion's SRTP writer."),
		dropped:       counter("packets_dropped_total", "Packets dropped because a subscriber's queue was full."),
		malformed:     counter("packets_malformed_total", "Packets from publishers that were not valid RTP."),
		sendRefused:   counter("datagrams_refused_total", "Datagrams the kernel refused on the media UDP socket (its buffer full); dropped, as UDP would."),
		nacks:         counter("nacks_total", "Packets asked again by subscribers (NACK)."),
		retransmits:   counter("retransmits_total", "Packets retransmitted from the packet cache."),
		plis:          counter("plis_sent_total", "Keyframe requests (PLI) sent to publishers."),
		layerSwitches: counter("layer_switches_total", "Simulcast layer switches on subscriber streams."),
		joins:         counter("joins_total", "Accepted joins."),
		chatDropped:   counter("chat_dropped_total", "Chat messages not delivered to a participant whose signaling queue was backed up; its call goes on."),
		chatRefused:   counter("chat_rate_limited_total", "Chat messages refused because their sender exceeded the chat rate."),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "refusals_total", Help: "Refused joins and fatal signaling errors, by code.",
		}, []string{"code"}),
		bandwidth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ns + "estimated_bandwidth_bps", Help: "Per-subscriber estimated downlink bandwidth, sampled each selection tick.",
			Buckets: prometheus.ExponentialBuckets(50e3, 2, 10),
		}),
		forwardLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ns + "forward_latency_seconds", Help: "Time from a packet's arrival to its send to a subscriber.",
			// Fine below 1 ms (the target) and up to seconds, so a loaded host's p99 is
			// still a number rather than "above the last bucket".
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 200e-6, 350e-6, 500e-6, 750e-6, 1e-3,
				2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5},
		}),
		joinToFirst: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: ns + "join_to_first_packet_seconds", Help: "Time from an accepted join to the first media packet sent to that participant.",
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1, 2, 5, 10},
		}),
	}
	for _, c := range []prometheus.Collector{
		m.rooms, m.participants, m.tracks, m.packetsIn, m.bytesIn, m.directIn, m.packetsOut, m.bytesOut, m.directOut, m.sendRefused,
		m.dropped, m.malformed, m.nacks, m.retransmits, m.plis, m.layerSwitches, m.joins,
		m.chatDropped, m.chatRefused, m.refusals, m.bandwidth, m.forwardLatency, m.joinToFirst,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
