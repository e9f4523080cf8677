// Package turntest starts an Atlas11 TURN relay on loopback for end-to-end
// tests (pion peers, headless Chromium against the real SFU) and reads its
// relay metrics. Test code only.
package turntest

import (
	"testing"

	"atlas11/turn"

	"github.com/prometheus/client_golang/prometheus"
)

// Secret is the shared secret of servers started here.
const Secret = "atlas11-turntest-secret-0001"

// Server is a running loopback TURN relay and the registry holding its metrics.
type Server struct {
	*turn.Server
	Registry *prometheus.Registry
}

// Config is a relay on 127.0.0.1 with free ports whose relays may reach
// exactly mediaIPs (127.0.0.1 when none are given).
// Config relays to mediaPort (the media server's UDP port) and the port
// after it on mediaIPs: turnutils_uclient binds a channel to both.
func Config(mediaPort int, mediaIPs ...string) turn.Config {
	if len(mediaIPs) == 0 {
		mediaIPs = []string{"127.0.0.1"}
	}
	cfg := turn.DefaultConfig()
	cfg.ListenAddress = "127.0.0.1"
	cfg.Port = 0
	cfg.RelayAddress = "127.0.0.1"
	cfg.RelayPortMin, cfg.RelayPortMax = 21000, 22999
	cfg.Secret = Secret
	cfg.MediaIPs = mediaIPs
	cfg.MediaUDPPorts = []int{mediaPort, mediaPort + 1}
	return cfg
}

// Start runs Config(mediaPort, mediaIPs...) until the test ends. Hand the browser
// srv.ICEServers(userID) and use iceTransportPolicy "relay".
func Start(tb testing.TB, mediaPort int, mediaIPs ...string) *Server {
	tb.Helper()
	reg := prometheus.NewRegistry()
	srv, err := turn.New(Config(mediaPort, mediaIPs...), turn.Deps{Registerer: reg})
	if err != nil {
		tb.Fatalf("turntest: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return &Server{Server: srv, Registry: reg}
}

// RelayedBytes reads atlas11_turn_relayed_bytes_total for both directions.
func (s *Server) RelayedBytes(tb testing.TB) (toPeer, fromPeer float64) {
	tb.Helper()
	families, err := s.Registry.Gather()
	if err != nil {
		tb.Fatalf("turntest: gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "atlas11_turn_relayed_bytes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case l.GetName() == "direction" && l.GetValue() == "to_peer":
					toPeer = m.GetCounter().GetValue()
				case l.GetName() == "direction" && l.GetValue() == "from_peer":
					fromPeer = m.GetCounter().GetValue()
				}
			}
		}
	}
	return toPeer, fromPeer
}
