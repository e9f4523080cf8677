package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// A publisher learns when each packet arrived, and which did not: the
// feedback its bandwidth estimate needs to send the top layer (CALL-2).
func TestTWCCFeedback_CALL2_ReportsArrivalsAndLosses(t *testing.T) {
	i, err := twccFeedbackFactory{}.NewInterceptor("pub")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []*rtcp.TransportLayerCC
	i.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				got = append(got, fb)
			}
		}
		return 0, nil
	}))
	var cur []byte
	r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 42, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: twccURI, ID: 3}}},
		interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(b, cur), a, nil
		}))
	for seq := uint16(100); seq < 110; seq++ {
		if seq == 105 {
			continue // lost on the way
		}
		h := rtp.Header{Version: 2, SSRC: 42, SequenceNumber: seq}
		if err := h.SetExtension(3, []byte{byte(seq >> 8), byte(seq)}); err != nil {
			t.Fatal(err)
		}
		raw, err := h.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		cur = append(raw, 1, 2, 3)
		buf := make([]byte, 1500)
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "feedback", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	fb := got[0]
	mu.Unlock()
	received := 0
	for _, d := range fb.RecvDeltas {
		if d != nil {
			received++
		}
	}
	if fb.MediaSSRC != 42 || fb.BaseSequenceNumber != 100 || fb.PacketStatusCount != 10 || received != 9 {
		t.Fatalf("feedback for ssrc %d from %d: %d statuses, %d received; want 42, 100, 10, 9",
			fb.MediaSSRC, fb.BaseSequenceNumber, fb.PacketStatusCount, received)
	}
	if err := i.Close(); err != nil {
		t.Fatal(err)
	}
}
