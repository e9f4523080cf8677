package control_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"
)

// benchEnv opens the store with bbolt's default batching, as in production.
func benchEnv(b *testing.B) *env {
	b.Helper()
	e := newEnv(b)
	_ = e.db.Close()
	db, err := bolt.Open(e.path, bolt.Options{MaxBatchDelay: 0})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	e.db = db
	e.svc, err = control.NewService(control.Config{Store: db, Gateway: e.gw, Clock: e.clock,
		CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// slots publishes n one-hour slots spread over experts, concurrently.
func (e *env) benchSlots(n int) []string {
	experts := make([]control.User, 50)
	for i := range experts {
		experts[i] = e.expert("E")
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ex := experts[i%len(experts)]
				start := t0.Add(time.Duration(24+i/len(experts)) * time.Hour)
				sl, err := e.svc.AddSlot(e.ctx, ex.ID, control.OneOffSlot{Start: start, Minutes: 60, PriceCents: 5000,
					Media: []control.MediaKind{control.MediaVideo}})
				if err != nil {
					e.t.Error(err)
					return
				}
				ids[i] = sl.ID
			}
		}()
	}
	wg.Wait()
	return ids
}

// BenchmarkBook measures successful bookings (hold, charge, confirm with a
// journal entry: two fsynced transactions each) from many concurrent
// clients, the way the HTTP API calls it.
func BenchmarkBook(b *testing.B) {
	e := benchEnv(b)
	ids := e.benchSlots(b.N)
	clients := make([]control.User, 64)
	for i := range clients {
		clients[i] = e.client("C")
	}
	var next atomic.Int64
	b.SetParallelism(256)
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) - 1
			if _, err := e.svc.Book(e.ctx, clients[i%len(clients)].ID, control.BookRequest{SlotID: ids[i]}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "bookings/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/booking")
	st := e.db.Stats()
	b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
	b.ReportMetric(float64(st.Pages)/float64(b.N), "pages/booking")
}

// BenchmarkCancelRefund measures ledger writes: each cancellation appends a
// refund transfer and a gateway outbox entry in one transaction.
func BenchmarkCancelRefund(b *testing.B) {
	e := benchEnv(b)
	ids := e.benchSlots(b.N)
	cl := e.client("C")
	bookings := make([]string, b.N)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				bk, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: ids[i]})
				if err != nil {
					b.Error(err)
					return
				}
				bookings[i] = bk.ID
			}
		}()
	}
	wg.Wait()
	next.Store(0)
	b.SetParallelism(256)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) - 1
			if _, err := e.svc.CancelBooking(e.ctx, cl.ID, bookings[i], ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refunds/s")
}

// cpuTime is the process's user+system CPU time in nanoseconds, a figure
// that does not depend on how busy the shared machine is.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkBookSerial is the latency of one booking with nobody else
// writing: two transactions, two fsyncs, one gateway call.
func BenchmarkBookSerial(b *testing.B) {
	e := benchEnv(b)
	ids := e.benchSlots(b.N)
	cl := e.client("C")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if _, err := e.svc.Book(e.ctx, cl.ID, control.BookRequest{SlotID: ids[i]}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
