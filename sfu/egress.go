package sfu

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"

	"atlas11/sfu/packetcache"
)

// egressWorkers is how many goroutines drain all subscriber queues. One goroutine
// per subscriber track woke once per packet (49 wake-ups per published packet);
// a few shared workers drain whatever is pending in one pass. More than one, so a
// writer that blocks (a stalled ICE-TCP peer) leaves the others working.
const egressWorkers = 4

// egress schedules subscriber tracks with queued packets onto the workers and,
// around each pass, lets the media socket batch the datagrams (sendmmsg).
type egress struct {
	conn *batchConn // nil: no batching (tests without a socket)

	mu      sync.Mutex
	pending []*downTrack // each at most once; FIFO
	wake    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	closed  bool
}

func newEgress(conn *batchConn, workers int) *egress {
	e := &egress{conn: conn, wake: make(chan struct{}, 1), done: make(chan struct{}), pending: make([]*downTrack, 0, 128)}
	e.wg.Add(workers)
	for range workers {
		go e.worker()
	}
	return e
}

// schedule asks for d's queue to be drained. Called after every push; allocates
// nothing once pending has grown to the number of tracks.
func (e *egress) schedule(d *downTrack) {
	e.mu.Lock()
	switch {
	case e.closed:
	case d.egRunning:
		d.egAgain = true // the worker draining it re-queues it when done
	case !d.egQueued:
		d.egQueued = true
		e.pending = append(e.pending, d)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *egress) worker() {
	defer e.wg.Done()
	for {
		select {
		case <-e.wake:
		case <-e.done:
			return
		}
		if e.conn != nil {
			e.conn.begin()
		}
		for {
			e.mu.Lock()
			if len(e.pending) == 0 {
				e.mu.Unlock()
				break
			}
			d := e.pending[0]
			e.pending = e.pending[:copy(e.pending, e.pending[1:])]
			d.egQueued, d.egRunning = false, true
			more := len(e.pending) > 0
			e.mu.Unlock()
			if more { // let an idle worker share the pass
				select {
				case e.wake <- struct{}{}:
				default:
				}
			}
			d.drain()
			e.mu.Lock()
			d.egRunning = false
			if d.egAgain && !e.closed {
				d.egAgain, d.egQueued = false, true
				e.pending = append(e.pending, d)
			}
			e.mu.Unlock()
		}
		if e.conn != nil {
			e.conn.end()
		}
	}
}

func (e *egress) close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.pending = nil
	e.mu.Unlock()
	close(e.done)
	e.wg.Wait()
}

// batchMax is the most datagrams one sendmmsg carries.
const batchMax = 64

// batchConn is the shared media socket. Outside an egress pass it writes each
// datagram at once; during one, datagrams are gathered and sent with one
// sendmmsg when the batch fills or the last pass ends, saving a system call per
// packet. It implements ice.AddrPortReaderWriter so the ICE UDP mux keeps its
// allocation-free path.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	mu     sync.Mutex
	active int // egress passes in progress
	n      int
	msgs   [batchMax]ipv4.Message
	addrs  [batchMax]net.UDPAddr
	ips    [batchMax][16]byte
	bufs   [batchMax][packetcache.BufSize]byte
	errs   uint64 // datagrams the kernel refused (counted, not retried: UDP)
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort implements ice.AddrPortReaderWriter.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.active == 0 || len(p) > packetcache.BufSize {
		b.mu.Unlock()
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	i := b.n
	b.ips[i] = addr.Addr().As16()
	b.addrs[i].IP = b.ips[i][:]
	b.addrs[i].Port = int(addr.Port())
	b.msgs[i].Buffers[0] = b.bufs[i][:copy(b.bufs[i][:], p)]
	b.n++
	if b.n == batchMax {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(p), nil
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.active++
	b.mu.Unlock()
}

// end flushes at the end of every pass, not only the last: a worker blocked in a
// write must not hold back what the others gathered.
func (b *batchConn) end() {
	b.mu.Lock()
	b.active--
	b.flushLocked()
	b.mu.Unlock()
}

func (b *batchConn) flushLocked() {
	for sent := 0; sent < b.n; {
		k, err := b.pc.WriteBatch(b.msgs[sent:b.n], 0)
		if err != nil && k <= 0 {
			b.errs++
			k = 1 // skip the datagram the kernel refused; the rest still go
		}
		sent += k
	}
	b.n = 0
}
