//go:build !linux

package sfu

import (
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// batchConn batches egress datagrams with sendmmsg, which only Linux has;
// elsewhere the media socket writes each datagram at once.
type batchConn struct {
	*net.UDPConn
	refused prometheus.Counter
	ingress func(p []byte, from netip.AddrPort) bool
}

// WriteToAddrPort writes one datagram (unused: newBatchConn returns nil here).
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	return b.WriteToUDPAddrPort(p, addr)
}

func newBatchConn(*net.UDPConn) *batchConn { return nil }

func (b *batchConn) begin() {}
func (b *batchConn) end()   {}
