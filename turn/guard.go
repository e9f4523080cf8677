package turn

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Special-purpose address ranges (IANA IPv4/IPv6 special-purpose registries
// plus the translation prefixes that embed an IPv4 address). A relay reaching
// any of these is how a public TURN server leaks into the operator's network.
//
// forbiddenPrefixes can never be reached, even when listed in AllowPeers: they
// are loopback, link-local (cloud metadata lives there), multicast, reserved,
// unspecified, or IPv6 forms that smuggle an IPv4 destination through a
// translator.
func forbiddenPrefixes() []netip.Prefix {
	return mustPrefixes(
		"0.0.0.0/8",         // "this network", includes 0.0.0.0
		"127.0.0.0/8",       // loopback
		"169.254.0.0/16",    // link-local, includes 169.254.169.254 (cloud metadata)
		"224.0.0.0/4",       // multicast
		"240.0.0.0/4",       // reserved, includes 255.255.255.255 broadcast
		"::/128",            // unspecified
		"::1/128",           // loopback
		"::/96",             // deprecated IPv4-compatible (::a.b.c.d)
		"::ffff:0:0/96",     // IPv4-mapped (checked after unmapping too)
		"64:ff9b::/96",      // NAT64 well-known prefix
		"64:ff9b:1::/48",    // local-use NAT64
		"100::/64",          // discard-only
		"2001::/32",         // Teredo
		"2002::/16",         // 6to4
		"fe80::/10",         // link-local
		"fec0::/10",         // deprecated site-local
		"ff00::/8",          // multicast
		"fd00:ec2::254/128", // AWS IPv6 metadata
	)
}

// optInPrefixes are special-purpose ranges a relay may reach only when an
// AllowPeers entry lies entirely inside one of them (an operator who runs
// media servers on a private network says so explicitly).
func optInPrefixes() []netip.Prefix {
	return mustPrefixes(
		"10.0.0.0/8",        // private
		"100.64.0.0/10",     // carrier-grade NAT
		"172.16.0.0/12",     // private
		"192.0.0.0/24",      // IETF protocol assignments
		"192.0.2.0/24",      // TEST-NET-1
		"192.31.196.0/24",   // AS112-v4
		"192.52.193.0/24",   // AMT
		"192.88.99.0/24",    // 6to4 relay anycast
		"192.168.0.0/16",    // private
		"192.175.48.0/24",   // direct delegation AS112
		"198.18.0.0/15",     // benchmarking
		"198.51.100.0/24",   // TEST-NET-2
		"203.0.113.0/24",    // TEST-NET-3
		"2001::/23",         // IETF protocol assignments
		"2001:db8::/32",     // documentation
		"2620:4f:8000::/48", // AS112-v6
		"3fff::/20",         // documentation
		"5f00::/16",         // SRv6 SIDs
		"fc00::/7",          // unique local
	)
}

// SpecialPurposePrefixes returns every special-purpose range the relay guard
// knows, for tests and documentation.
func SpecialPurposePrefixes() []netip.Prefix {
	return append(forbiddenPrefixes(), optInPrefixes()...)
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which peer addresses a relay may reach: on the media
// server's own addresses exactly its media ports (the SFU's UDP port over a
// UDP relay, its ICE-TCP port over an RFC 6062 connection), elsewhere the
// configured allow-list, never a forbidden special-purpose address. Any other
// port of a media address (the HTTP API, /metrics, a local database) is out
// of reach, and so is every port of the relay's own addresses that is not a
// media port.
type Guard struct {
	media     []netip.Addr
	self      []netip.Addr
	udpPorts  []uint16
	tcpPorts  []uint16
	allow     []netip.Prefix
	forbidden []netip.Prefix
}

// GuardConfig is what NewGuard needs.
type GuardConfig struct {
	// MediaIPs are the media server's addresses; on them only the media
	// ports below are reachable.
	MediaIPs []netip.Addr
	// UDPPorts and TCPPorts are the media server's own ports.
	UDPPorts, TCPPorts []int
	// Self are the relay's own addresses (listen and relay address): reachable
	// only where they are also a media IP, on the media ports, even when an
	// allow-list entry covers them.
	Self []netip.Addr
	// Allow are extra prefixes reachable on any port.
	Allow []netip.Prefix
}

// NewGuard builds a guard. Addresses are normalised (IPv4-mapped IPv6 is
// unmapped) so that ::ffff:127.0.0.1 and 127.0.0.1 are judged alike.
func NewGuard(c GuardConfig) *Guard {
	g := &Guard{forbidden: forbiddenPrefixes()}
	for _, a := range c.MediaIPs {
		g.media = append(g.media, a.Unmap().WithZone(""))
	}
	for _, a := range c.Self {
		if a.IsValid() && !a.IsUnspecified() {
			g.self = append(g.self, a.Unmap().WithZone(""))
		}
	}
	g.udpPorts = ports16(c.UDPPorts)
	g.tcpPorts = ports16(c.TCPPorts)
	for _, p := range c.Allow {
		g.allow = append(g.allow, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
	}
	return g
}

func ports16(ps []int) []uint16 {
	var out []uint16
	for _, p := range ps {
		if p > 0 && p <= 65535 {
			out = append(out, uint16(p))
		}
	}
	return out
}

func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// Allowed reports whether a relay may exchange traffic with some port of ip:
// the IP-level check for what carries no port.
func (g *Guard) Allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if slices.Contains(g.media, ip) {
		return len(g.udpPorts)+len(g.tcpPorts) > 0
	}
	if slices.Contains(g.self, ip) || inAny(ip, g.forbidden) {
		return false
	}
	return inAny(ip, g.allow)
}

// Network selects the media ports a peer address is judged against.
type Network int

const (
	// AnyNetwork accepts either transport's media ports (permissions, which
	// serve both UDP and TCP allocations).
	AnyNetwork Network = iota
	UDP
	TCP
)

// AllowedPort reports whether a relay over network may exchange traffic
// with ap.
func (g *Guard) AllowedPort(ap netip.AddrPort, network Network) bool {
	ip := ap.Addr().Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if slices.Contains(g.media, ip) {
		port := ap.Port()
		switch network {
		case UDP:
			return slices.Contains(g.udpPorts, port)
		case TCP:
			return slices.Contains(g.tcpPorts, port)
		default:
			return slices.Contains(g.udpPorts, port) || slices.Contains(g.tcpPorts, port)
		}
	}
	return g.Allowed(ip)
}

// AllowedIP is Allowed for a net.IP (as pion hands them over).
func (g *Guard) AllowedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && g.Allowed(a)
}

// AllowedAddr is AllowedPort for a *net.UDPAddr (UDP relay) or a
// *net.TCPAddr (RFC 6062 connection).
func (g *Guard) AllowedAddr(addr net.Addr) bool {
	var (
		ip      net.IP
		port    int
		network Network
	)
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil {
			return false
		}
		ip, port, network = a.IP, a.Port, UDP
	case *net.TCPAddr:
		if a == nil {
			return false
		}
		ip, port, network = a.IP, a.Port, TCP
	default:
		return false
	}
	ap, ok := addrPort(ip, port)
	return ok && g.AllowedPort(ap, network)
}

func addrPort(ip net.IP, port int) (netip.AddrPort, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port < 0 || port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(port)), true
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkAllowPrefix rejects allow-list entries that would open a forbidden
// range, or sweep a private range in by accident (0.0.0.0/0 contains
// 10.0.0.0/8): an entry overlapping an opt-in range must lie inside it.
func checkAllowPrefix(p netip.Prefix) error {
	p = netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked()
	for _, f := range forbiddenPrefixes() {
		if p.Overlaps(f) {
			return fmt.Errorf("%s overlaps %s, which a relay may never reach", p, f)
		}
	}
	for _, o := range optInPrefixes() {
		if p.Overlaps(o) && !(o.Bits() <= p.Bits() && o.Contains(p.Addr())) {
			return fmt.Errorf("%s covers part of special-purpose range %s; list the private range itself (or a subnet of it) explicitly", p, o)
		}
	}
	return nil
}

// checkMediaIP rejects addresses that cannot be a media server's own address.
func checkMediaIP(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return fmt.Errorf("%s is unspecified; give the media server's concrete addresses", a)
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is not a unicast address", a)
	case a == netip.AddrFrom4([4]byte{169, 254, 169, 254}) || a == netip.MustParseAddr("fd00:ec2::254"):
		return fmt.Errorf("%s is a cloud metadata address", a)
	}
	return nil
}
