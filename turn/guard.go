package turn

import (
	"fmt"
	"net"
	"net/netip"
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

// Guard decides which peer addresses a relay may reach: exactly the media
// server's own addresses plus the configured allow-list, never a forbidden
// special-purpose address.
type Guard struct {
	media     []netip.Addr
	allow     []netip.Prefix
	forbidden []netip.Prefix
}

// NewGuard builds a guard. Addresses are normalised (IPv4-mapped IPv6 is
// unmapped) so that ::ffff:127.0.0.1 and 127.0.0.1 are judged alike.
func NewGuard(media []netip.Addr, allow []netip.Prefix) *Guard {
	g := &Guard{forbidden: forbiddenPrefixes()}
	for _, a := range media {
		g.media = append(g.media, a.Unmap().WithZone(""))
	}
	for _, p := range allow {
		g.allow = append(g.allow, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
	}
	return g
}

func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// Allowed reports whether a relay may exchange traffic with ip.
func (g *Guard) Allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, m := range g.media {
		if ip == m {
			return true
		}
	}
	if inAny(ip, g.forbidden) {
		return false
	}
	return inAny(ip, g.allow)
}

// AllowedIP is Allowed for a net.IP (as pion hands them over).
func (g *Guard) AllowedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && g.Allowed(a)
}

// AllowedAddr is Allowed for a *net.UDPAddr or *net.TCPAddr.
func (g *Guard) AllowedAddr(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return g.AllowedIP(a.IP)
	case *net.TCPAddr:
		return g.AllowedIP(a.IP)
	default:
		return false
	}
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
