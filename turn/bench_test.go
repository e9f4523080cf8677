package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The relay's per-packet additions to pion: the guard, the verifier's look
// at each datagram, and the counting/capping relay socket.

func BenchmarkGuard_Allowed(b *testing.B) {
	g := NewGuard(GuardConfig{MediaIPs: []netip.Addr{netip.MustParseAddr("198.51.100.7")}, UDPPorts: []int{50000},
		Allow: []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")}})
	ips := []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("8.8.8.8")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g.Allowed(ips[i%len(ips)])
	}
}

func BenchmarkVerifier_ObserveChannelData(b *testing.B) {
	v := newVerifier("atlas11", time.Now, testSecret, nil)
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	frame := make([]byte, 1004)
	frame[0], frame[1], frame[2], frame[3] = 0x40, 0x00, 0x03, 0xE8
	b.ReportAllocs()
	for b.Loop() {
		v.observe(src, frame)
	}
}

func BenchmarkRelayPacketConn_WriteTo(b *testing.B) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	cfg.BandwidthPerAllocation = 1 << 40 // measure the path, not the cap
	table := newAllocTable(cfg, m)
	a, err := table.reserve("bench", transportUDP, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	g := &relayGenerator{table: table, guard: NewGuard(GuardConfig{MediaIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		UDPPorts: []int{sink.LocalAddr().(*net.UDPAddr).Port}}), m: m, now: time.Now}
	rc := &relayPacketConn{PacketConn: relay, a: a, g: g}
	defer rc.Close()
	payload := make([]byte, 1000)
	to := sink.LocalAddr()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := rc.WriteTo(payload, to); err != nil {
			b.Fatal(err)
		}
	}
}
