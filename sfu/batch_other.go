//go:build !linux

package sfu

import "net"

// batchConn batches egress datagrams with sendmmsg, which only Linux has;
// elsewhere the media socket writes each datagram at once.
type batchConn struct{ *net.UDPConn }

func newBatchConn(*net.UDPConn) *batchConn { return nil }

func (b *batchConn) begin() {}
func (b *batchConn) end()   {}
