package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"atlas11/control"
)

// BenchmarkAPI_Book measures a booking through the whole HTTP handler
// (session lookup, strict decoding, domain, bbolt with fsync, JSON answer)
// without the network, from many concurrent callers.
func BenchmarkAPI_Book(b *testing.B) {
	e := newEnv(b)
	const experts, clients = 20, 20
	exs := make([]*user, experts)
	for i := range exs {
		exs[i] = e.signUp(control.RoleExpert)
	}
	cls := make([]string, clients)
	for i := range cls {
		cls[i] = cookieOf(e.signUp(control.RoleClient))
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = exs[i%experts].slot(t0.Add(72*time.Hour+time.Duration(i/experts)*time.Hour), 2000).ID
	}
	h := e.api.engine()
	var next atomic.Int64
	b.SetParallelism(256)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) - 1
			req := httptest.NewRequest("POST", Prefix+"/bookings", strings.NewReader(`{"slot_id":"`+ids[i]+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Cookie", cls[i%clients])
			req.Header.Set("Idempotency-Key", fmt.Sprint("bench-", i))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Errorf("book: %d %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "bookings/s")
}

func cookieOf(u *user) string {
	for _, c := range u.hc.Jar.Cookies(mustURL(u.e.srv.URL)) {
		if c.Name == sessionCookie {
			return c.Name + "=" + c.Value
		}
	}
	return ""
}
