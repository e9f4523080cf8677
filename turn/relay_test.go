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

// A relay may not feed the TURN server its own requests: its listening
// ports are unreachable even on an allowed media IP.
func TestRelay_OwnListeningPortsUnreachable(t *testing.T) {
	cfg := testConfig()
	echoPort := mediaUDPEcho(t, &cfg)
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	binding, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s, "udp", user, pass)
	if code := c.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	if code := c.createPermission(net.IPv4(127, 0, 0, 1), echoPort, false); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	// Control: the same payload to an ordinary peer on the media IP comes back.
	c.send(net.IPv4(127, 0, 0, 1), echoPort, binding.Raw)
	if _, ok := c.dataIndication(5 * time.Second); !ok {
		t.Fatal("no echo from the peer")
	}
	c.send(net.IPv4(127, 0, 0, 1), s.Port(), binding.Raw)
	if data, ok := c.dataIndication(time.Second); ok {
		t.Errorf("the server answered a request relayed to itself: %x", data)
	}

	tc := dialRaw(t, s, "tcp", user, pass)
	if code := tc.allocate(protoTCP); code != 0 {
		t.Fatalf("allocate TCP: %d", code)
	}
	if code := tc.connect(net.IPv4(127, 0, 0, 1), s.Port(), false); code != 403 {
		t.Errorf("Connect to the TURN port: code %d, want 403", code)
	}
}
