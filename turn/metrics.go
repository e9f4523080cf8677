package turn

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values are fixed sets so the series stay few (no user IDs or IPs).
const (
	transportUDP = "udp"
	transportTCP = "tcp"

	dirToPeer   = "to_peer"
	dirFromPeer = "from_peer"

	reasonMalformed      = "malformed_username"
	reasonExpired        = "expired"
	reasonBadCredentials = "bad_credentials"

	scopeUser  = "user"
	scopeTotal = "total"
)

type metrics struct {
	allocations        *prometheus.GaugeVec
	relayedBytes       *prometheus.CounterVec
	authFailures       *prometheus.CounterVec
	permissionRefusals *prometheus.CounterVec
	quotaRefusals      *prometheus.CounterVec
	rateLimitedBytes   *prometheus.CounterVec
	lifetimeClosed     prometheus.Counter

	// Per-packet counters, resolved once so the relay path skips label lookups.
	toPeer, fromPeer               prometheus.Counter
	limitedToPeer, limitedFromPeer prometheus.Counter

	reg        prometheus.Registerer
	collectors []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		allocations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "atlas11_turn_allocations_active",
			Help: "TURN allocations currently held, by relay transport.",
		}, []string{"transport"}),
		relayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atlas11_turn_relayed_bytes_total",
			Help: "Payload bytes relayed between allocations and peers, by direction.",
		}, []string{"direction"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atlas11_turn_auth_failures_total",
			Help: "TURN requests refused for their credentials, by reason.",
		}, []string{"reason"}),
		permissionRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atlas11_turn_permission_refusals_total",
			Help: "Permission, channel or connect requests refused by the relay guard, by client transport.",
		}, []string{"transport"}),
		quotaRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atlas11_turn_quota_refusals_total",
			Help: "Allocate requests refused with 486 Allocation Quota Reached, by quota.",
		}, []string{"scope"}),
		rateLimitedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atlas11_turn_rate_limited_bytes_total",
			Help: "UDP payload bytes dropped by the per-allocation bandwidth cap, by direction.",
		}, []string{"direction"}),
		lifetimeClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atlas11_turn_allocations_lifetime_closed_total",
			Help: "Allocations closed because they reached the maximum allocation lifetime.",
		}),
		reg: reg,
	}
	// Touch every label value so each series exists from the start at zero.
	for _, t := range []string{transportUDP, transportTCP} {
		m.allocations.WithLabelValues(t)
		m.permissionRefusals.WithLabelValues(t)
	}
	for _, d := range []string{dirToPeer, dirFromPeer} {
		m.relayedBytes.WithLabelValues(d)
		m.rateLimitedBytes.WithLabelValues(d)
	}
	for _, r := range []string{reasonMalformed, reasonExpired, reasonBadCredentials} {
		m.authFailures.WithLabelValues(r)
	}
	for _, s := range []string{scopeUser, scopeTotal} {
		m.quotaRefusals.WithLabelValues(s)
	}

	m.toPeer, m.fromPeer = m.relayedBytes.WithLabelValues(dirToPeer), m.relayedBytes.WithLabelValues(dirFromPeer)
	m.limitedToPeer = m.rateLimitedBytes.WithLabelValues(dirToPeer)
	m.limitedFromPeer = m.rateLimitedBytes.WithLabelValues(dirFromPeer)

	for _, c := range []prometheus.Collector{m.allocations, m.relayedBytes, m.authFailures,
		m.permissionRefusals, m.quotaRefusals, m.rateLimitedBytes, m.lifetimeClosed} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, errors.Join(errors.New("turn: register metrics"), err)
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}
