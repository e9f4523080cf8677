package turn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// firstLast returns the first and last address of p.
func firstLast(p netip.Prefix) (netip.Addr, netip.Addr) {
	first := p.Masked().Addr()
	b := first.AsSlice()
	hostBits := b
	bits := p.Bits()
	for i := range hostBits {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	last, _ := netip.AddrFromSlice(b)
	return first, last
}

type guardCase struct {
	name string
	ip   netip.Addr
	asV6 bool // send as IPv4-mapped IPv6 on the wire
}

// specialCases lists the first and last address of every special-purpose
// range, and for IPv4 ranges their IPv4-mapped IPv6 forms too.
func specialCases() []guardCase {
	var cs []guardCase
	for _, p := range SpecialPurposePrefixes() {
		first, last := firstLast(p)
		for _, a := range []netip.Addr{first, last} {
			cs = append(cs, guardCase{name: p.String() + "/" + a.String(), ip: a})
			if a.Is4() {
				m := netip.AddrFrom16(a.As16())
				cs = append(cs, guardCase{name: p.String() + "/" + m.String(), ip: m, asV6: true})
			}
		}
	}
	return cs
}

// ipv6Only is an IPv6 address that is not an IPv4-mapped one.
func ipv6Only(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// A public server whose media server has a public address and one public
// allow-listed range: nothing special-purpose may be reached.
func publicGuard() *Guard {
	return NewGuard(GuardConfig{MediaIPs: []netip.Addr{netip.MustParseAddr("8.8.4.4")}, UDPPorts: []int{50000},
		Allow: []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")}})
}

func TestGuard_RefusesEverySpecialPurposeRange(t *testing.T) {
	g := publicGuard()
	for _, c := range specialCases() {
		if g.Allowed(c.ip) {
			t.Errorf("%s: allowed", c.name)
		}
	}
	// The guard holds even with an allow-list that Validate would reject.
	wide := NewGuard(GuardConfig{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}})
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254", "::ffff:169.254.169.254",
		"0.0.0.0", "::", "::1", "224.0.0.1", "255.255.255.255", "fe80::1", "ff02::1", "64:ff9b::7f00:1",
		"2002:7f00:1::", "::127.0.0.1", "fd00:ec2::254"} {
		if wide.Allowed(netip.MustParseAddr(s)) {
			t.Errorf("wide allow-list: %s allowed", s)
		}
	}
}

func TestGuard_AllowsMediaIPsAndAllowList(t *testing.T) {
	g := NewGuard(GuardConfig{MediaIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("203.0.113.7")},
		UDPPorts: []int{50000}, TCPPorts: []int{50001},
		Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("8.8.8.0/24")}})
	for s, want := range map[string]bool{
		"127.0.0.1":          true, // media IP, even loopback
		"::ffff:127.0.0.1":   true,
		"127.0.0.2":          false, // loopback but not the media IP
		"203.0.113.7":        true,
		"203.0.113.8":        false,
		"10.20.255.255":      true,
		"::ffff:10.20.0.1":   true,
		"10.21.0.1":          false,
		"8.8.8.8":            true,
		"8.8.9.8":            false,
		"1.1.1.1":            false,
		"2606:4700::1111":    false,
		"169.254.169.254":    false,
		"::ffff:169.254.1.1": false,
	} {
		if got := g.Allowed(netip.MustParseAddr(s)); got != want {
			t.Errorf("%s: allowed=%v, want %v", s, got, want)
		}
	}
	if g.AllowedIP(nil) || g.AllowedAddr(nil) {
		t.Error("nil address allowed")
	}
}

// On the media server's addresses a relay reaches the media ports only, each
// on its own transport; the relay's own addresses are closed even when an
// allow-list entry covers them.
func TestGuard_MediaIPsOnlyOnMediaPorts(t *testing.T) {
	g := NewGuard(GuardConfig{
		MediaIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("203.0.113.7")},
		UDPPorts: []int{50000}, TCPPorts: []int{50001},
		Self:  []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("0.0.0.0")},
		Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
	})
	for _, c := range []struct {
		addr    string
		network Network
		want    bool
	}{
		{"127.0.0.1:50000", UDP, true},
		{"[::ffff:127.0.0.1]:50000", UDP, true},
		{"127.0.0.1:50001", TCP, true},
		{"127.0.0.1:50001", UDP, false}, // the ICE-TCP port over a UDP relay
		{"127.0.0.1:50000", TCP, false},
		{"127.0.0.1:50000", AnyNetwork, true},
		{"127.0.0.1:8080", UDP, false}, // the HTTP API
		{"127.0.0.1:8080", TCP, false},
		{"127.0.0.1:8080", AnyNetwork, false},
		{"127.0.0.1:9090", TCP, false}, // an admin or metrics port
		{"127.0.0.1:3478", UDP, false},
		{"127.0.0.1:0", AnyNetwork, false},
		{"[::1]:50000", UDP, true},
		{"[::1]:8080", TCP, false},
		{"203.0.113.7:50001", TCP, true},
		{"203.0.113.7:22", TCP, false},
		{"10.1.9.9:5432", TCP, true},   // allow-listed peer: any port
		{"10.1.2.3:50000", UDP, false}, // the relay's own address inside the allow-list
		{"10.1.2.3:8080", TCP, false},
	} {
		if got := g.AllowedPort(netip.MustParseAddrPort(c.addr), c.network); got != c.want {
			t.Errorf("%s over %d: allowed=%v, want %v", c.addr, c.network, got, c.want)
		}
	}
	if !g.AllowedAddr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50001}) ||
		g.AllowedAddr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}) ||
		!g.AllowedAddr(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}) ||
		g.AllowedAddr(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}) {
		t.Error("AllowedAddr does not judge each transport by its own media ports")
	}
	if g.Allowed(netip.MustParseAddr("10.1.2.3")) {
		t.Error("the relay's own address is reachable through the allow-list")
	}
}

func TestConfig_AllowPeersMustNotOpenSpecialRanges(t *testing.T) {
	for s, wantErr := range map[string]string{
		"0.0.0.0/0":           "overlaps",
		"::/0":                "overlaps",
		"127.0.0.0/8":         "overlaps",
		"169.254.0.0/16":      "overlaps",
		"::ffff:10.0.0.0/104": "",
		"8.0.0.0/6":           "covers part", // sweeps 10.0.0.0/8 in
		"10.0.0.0/8":          "",
		"10.1.2.0/24":         "",
		"fd12:3456::/32":      "",
		"8.8.8.0/24":          "",
		"not-a-cidr":          "not a CIDR",
	} {
		cfg := testConfig()
		cfg.AllowPeers = []string{s}
		err := cfg.Validate()
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s: %v", s, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr) ||
			!strings.Contains(err.Error(), "turn.allow_peers")):
			t.Errorf("%s: error %v, want one naming turn.allow_peers and %q", s, err, wantErr)
		}
	}
}

// The guard on the wire: a client on each transport asks for permissions
// (UDP relay) and for RFC 6062 connections (TCP relay) to every
// special-purpose address, and is refused each time with 403.
func TestGuard_RefusedOnTheWireUDPAndTCP(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAllocationsPerUser = 10
	echoPort := mediaTCPEcho(t, &cfg)
	udpPort := mediaUDPEcho(t, &cfg)
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "mallory", 3600e9, s.now())
	cases := specialCases()
	// MediaIPs is 127.0.0.1 here: drop the cases that are exactly it.
	var refused []guardCase
	for _, c := range cases {
		if c.ip.Unmap() != netip.MustParseAddr("127.0.0.1") {
			refused = append(refused, c)
		}
	}

	t.Run("udp-relay", func(t *testing.T) {
		c := dialRaw(t, s, "udp", user, pass)
		if code := c.allocate(protoUDP); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		before := s.counter(t, "permission", transportUDP)
		guarded := 0
		for _, gc := range refused {
			code := c.createPermission(gc.ip.AsSlice(), udpPort, gc.asV6)
			if ipv6Only(gc.ip) && code == 443 {
				continue // family mismatch on an IPv4 allocation: refused before the guard
			}
			guarded++
			if code != 403 {
				t.Errorf("CreatePermission %s: code %d, want 403", gc.name, code)
			}
		}
		if got := s.counter(t, "permission", transportUDP) - before; got != float64(guarded) {
			t.Errorf("permission refusals counted %v, want %d", got, guarded)
		}
		// The media IP itself, in both spellings, is reachable.
		for _, v6 := range []bool{false, true} {
			if code := c.createPermission(net.IPv4(127, 0, 0, 1), udpPort, v6); code != 0 {
				t.Errorf("CreatePermission media IP (v6=%v): code %d", v6, code)
			}
		}
	})

	t.Run("tcp-relay", func(t *testing.T) {
		c := dialRaw(t, s, "tcp", user, pass)
		if code := c.allocate(protoTCP); code != 0 {
			t.Fatalf("allocate TCP: %d", code)
		}
		before := s.counter(t, "permission", transportTCP)
		guarded := 0
		for _, gc := range refused {
			guarded++
			if code := c.connect(gc.ip.AsSlice(), 80, gc.asV6); code != 403 {
				t.Errorf("Connect %s: code %d, want 403", gc.name, code)
			}
			code := c.createPermission(gc.ip.AsSlice(), echoPort, gc.asV6)
			if ipv6Only(gc.ip) && code == 443 {
				continue
			}
			guarded++
			if code != 403 {
				t.Errorf("CreatePermission on TCP allocation %s: code %d, want 403", gc.name, code)
			}
		}
		if got := s.counter(t, "permission", transportTCP) - before; got != float64(guarded) {
			t.Errorf("permission refusals counted %v, want %d", got, guarded)
		}
		if code := c.connect(net.IPv4(127, 0, 0, 1), echoPort, false); code != 0 {
			t.Errorf("Connect to the media IP: code %d", code)
		}
	})
}
