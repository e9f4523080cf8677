package sfu

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkKernelFloor_SendmmsgTo49Peers measures what the kernel alone costs
// the sending thread per datagram when one batch of 49 x 1,200-byte datagrams
// goes to 49 loopback peers, paced like a 1 -> 49 video fan-out (one batch every
// 4 ms): the floor under any SFU's "CPU per egress packet" on this host. On
// loopback the receive side's softirq work and the wake-ups of the receiving
// threads run on the sender's CPU too.
func BenchmarkKernelFloor_SendmmsgTo49Peers(b *testing.B) {
	bc := loopbackBatchConn(b)
	const peers = 49
	var addrs []netip.AddrPort
	for range peers {
		p := loopbackUDP(b)
		addrs = append(addrs, p.LocalAddr().(*net.UDPAddr).AddrPort())
		go func() { // reads until the socket closes at cleanup
			buf := make([]byte, 1500)
			for {
				if _, _, err := p.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
	}
	pkt := make([]byte, 1200)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &before)
	tick := time.NewTicker(4 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		bc.begin()
		for _, a := range addrs {
			_, _ = bc.WriteToAddrPort(pkt, a)
		}
		bc.end()
	}
	b.StopTimer()
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*peers)/1e3, "cpu-us/datagram")
	b.ReportMetric(float64(after.Stime.Nano()-before.Stime.Nano())/float64(b.N*peers)/1e3, "sys-us/datagram")
}

// loopbackBatchConn is a batching media socket on 127.0.0.1.
func loopbackBatchConn(t testing.TB) *batchConn {
	b := newBatchConn(loopbackUDP(t))
	if b == nil {
		t.Fatal("no batching socket")
	}
	return b
}
