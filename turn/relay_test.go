package turn

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// Relayed addresses carry the configured relay address and stay inside the
// relay port range; IPv6 relays are not offered.
func TestRelay_AddressesStayInConfiguredRange(t *testing.T) {
	cfg := testConfig()
	cfg.RelayPortMin, cfg.RelayPortMax = 23000, 23019
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	for i := range 6 {
		c := dialRaw(t, s, []string{"udp", "tcp"}[i%2], user, pass)
		addr, code := c.allocateAddr([]byte{protoUDP, protoTCP}[i/3])
		if code != 0 {
			t.Fatalf("allocate %d: %d", i, code)
		}
		if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port < 23000 || addr.Port > 23019 {
			t.Errorf("relayed address %v outside 127.0.0.1:23000-23019", addr)
		}
	}
	c := dialRaw(t, s, "udp", user, pass)
	_, code := c.do(stun.MethodAllocate, requestedTransport(protoUDP),
		stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{2, 0, 0, 0}})
	if code == 0 {
		t.Error("an IPv6 relay was allocated")
	}
	if n := s.AllocationCount(); n != 6 {
		t.Errorf("allocations %d, want 6", n)
	}
}
