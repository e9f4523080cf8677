package sfu

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
)

// twccFeedbackInterval is how often a publisher gets its arrival report.
const twccFeedbackInterval = 100 * time.Millisecond

// twccFeedback tells a publisher when each of its packets arrived (transport-
// wide congestion control feedback), so its own bandwidth estimate can rise to
// the top simulcast layer. pion's interceptor for it hands every packet to its
// sending goroutine through a channel: a goroutine wake-up, often a thread
// wake-up, per received packet. This one records the arrival under a lock and
// its goroutine only wakes to send.
type twccFeedback struct {
	interceptor.NoOp

	mu      sync.Mutex
	rec     *twcc.Recorder
	start   time.Time
	started bool
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
}

type twccFeedbackFactory struct{}

func (twccFeedbackFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{rec: twcc.NewRecorder(rand.Uint32()), start: time.Now(), done: make(chan struct{})}, nil //nolint:gosec // an SSRC, not a secret
}

// BindRTCPWriter starts the sending goroutine on the connection's RTCP writer.
func (f *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.closed {
		return w
	}
	f.started = true
	f.wg.Add(1)
	go f.loop(w)
	return w
}

// BindRemoteStream records the arrival of each packet carrying a transport-wide
// sequence number. A stream's reads come one at a time (layer.ingest).
func (f *twccFeedback) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == twccURI && e.ID > 0 && e.ID < 15 {
			id = uint8(e.ID) //nolint:gosec // checked
		}
	}
	if id == 0 {
		return reader
	}
	ssrc := info.SSRC
	var h rtp.Header // reused: one reader at a time
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if _, err := h.Unmarshal(b[:n]); err == nil {
			if ext := h.GetExtension(id); len(ext) >= 2 {
				f.mu.Lock()
				f.rec.Record(ssrc, binary.BigEndian.Uint16(ext), time.Since(f.start).Microseconds())
				f.mu.Unlock()
			}
		}
		return n, a, nil
	})
}

func (f *twccFeedback) loop(w interceptor.RTCPWriter) {
	defer f.wg.Done()
	t := time.NewTicker(twccFeedbackInterval)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
		}
		f.mu.Lock()
		pkts := f.rec.BuildFeedbackPacket()
		f.mu.Unlock()
		if len(pkts) > 0 {
			_, _ = w.Write(pkts, nil) // a closing connection refuses it; the next tick will too, then Close
		}
	}
}

// Close stops the sending goroutine.
func (f *twccFeedback) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	close(f.done)
	f.wg.Wait()
	return nil
}
