package sfu

import (
	"sync"
)

// egressWorkers is how many goroutines drain the subscriber queues that cannot be
// written inline (ICE-TCP peers, whose writes may block). More than one, so a
// writer that blocks (a stalled ICE-TCP peer) leaves the others working.
const egressWorkers = 4

// egress drains subscriber queues. A subscriber reached over UDP is drained
// inline, on the goroutine that queued the packet (the publisher's reader):
// writing to the shared UDP socket never blocks, and handing each packet to
// another goroutine cost a thread wake-up per pass, which this VM charges
// dearly. Others are scheduled onto a few shared workers. Around each pass the
// media socket batches the datagrams (one sendmmsg).
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

// beginPass and endPass bracket an inline pass: datagrams written in between
// leave in one sendmmsg at endPass.
func (e *egress) beginPass() {
	if e.conn != nil {
		e.conn.begin()
	}
}

func (e *egress) endPass() {
	if e.conn != nil {
		e.conn.end()
	}
}

// tryClaim makes the caller the one goroutine writing d, if no one else is and
// no worker has it pending. release gives it back.
func (e *egress) tryClaim(d *downTrack) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || d.egRunning || d.egQueued {
		return false
	}
	d.egRunning = true
	return true
}

// release ends a claim; what was queued meanwhile for d goes to a worker.
func (e *egress) release(d *downTrack) {
	e.mu.Lock()
	d.egRunning = false
	again := d.egAgain && !e.closed
	if again {
		d.egAgain, d.egQueued = false, true
		e.pending = append(e.pending, d)
	}
	e.mu.Unlock()
	if again {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// drainNow drains d on the calling goroutine, unless someone else is writing
// it; then that one drains it again when done (or a worker has it pending).
func (e *egress) drainNow(d *downTrack) {
	e.mu.Lock()
	switch {
	case e.closed, d.egQueued:
		e.mu.Unlock()
		return
	case d.egRunning:
		d.egAgain = true
		e.mu.Unlock()
		return
	}
	d.egRunning = true
	e.mu.Unlock()
	d.drain()
	e.release(d)
}

// kick gets d's queue written: inline when its path cannot block, else by a
// worker.
func (e *egress) kick(d *downTrack) {
	if d.inline != nil && d.inline.Load() {
		e.beginPass()
		e.drainNow(d)
		e.endPass()
		return
	}
	e.schedule(d)
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
