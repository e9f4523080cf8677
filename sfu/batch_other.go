//go:build !linux

package sfu

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// batchConn batches egress datagrams with sendmmsg, which only Linux has;
// elsewhere the media socket writes each datagram at once.
type batchConn struct {
	*net.UDPConn
	refused prometheus.Counter
}

func newBatchConn(*net.UDPConn) *batchConn { return nil }

func (b *batchConn) begin() {}
func (b *batchConn) end()   {}
