package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

type markInterceptor struct {
	interceptor.NoOp
	bound, unbound int
}

func (m *markInterceptor) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	m.bound++
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		return w.Write(h, p, a)
	})
}

func (m *markInterceptor) UnbindLocalStream(*interceptor.StreamInfo) { m.unbound++ }

type markFactory struct{ i *markInterceptor }

func (f markFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.i, nil }

// A subscriber without TWCC is estimated from REMB: the congestion controller
// never sees its packets; one with TWCC goes through it.
func TestTWCCOnly_EstimatorSkipsStreamsWithoutTWCC(t *testing.T) {
	mark := &markInterceptor{}
	i, err := twccOnly{markFactory{mark}}.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	plain := &interceptor.StreamInfo{SSRC: 1}
	i.BindLocalStream(plain, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	i.UnbindLocalStream(plain)
	if mark.bound != 0 || mark.unbound != 0 {
		t.Fatalf("stream without TWCC reached the estimator: bound %d unbound %d", mark.bound, mark.unbound)
	}
	tw := &interceptor.StreamInfo{SSRC: 2, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: twccURI, ID: 5}}}
	i.BindLocalStream(tw, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	i.UnbindLocalStream(tw)
	if mark.bound != 1 || mark.unbound != 1 {
		t.Fatalf("stream with TWCC skipped the estimator: bound %d unbound %d", mark.bound, mark.unbound)
	}
}
