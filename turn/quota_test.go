package turn

import (
	"net"
	"sync"
	"testing"
	"time"
)

func TestQuota_OverQuotaAllocationGets486(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.MaxAllocationsPerUser = 2
	cfg.MaxAllocations = 3
	s := startServer(t, cfg, clk.Now)
	alice, alicePass := Credentials(testSecret, "alice", 10*time.Minute, clk.Now())
	bob, bobPass := Credentials(testSecret, "bob", 10*time.Minute, clk.Now())

	a1, a2, a3 := dialRaw(t, s, "udp", alice, alicePass), dialRaw(t, s, "tcp", alice, alicePass), dialRaw(t, s, "udp", alice, alicePass)
	if c1, c2 := a1.allocate(protoUDP), a2.allocate(protoUDP); c1 != 0 || c2 != 0 {
		t.Fatalf("alice's first two allocations: %d, %d", c1, c2)
	}
	if code := a3.allocate(protoUDP); code != 486 {
		t.Errorf("alice's third allocation (per-user quota 2): code %d, want 486", code)
	}
	b1, b2 := dialRaw(t, s, "udp", bob, bobPass), dialRaw(t, s, "udp", bob, bobPass)
	if code := b1.allocate(protoUDP); code != 0 {
		t.Fatalf("bob's first allocation: %d", code)
	}
	if code := b2.allocate(protoUDP); code != 486 {
		t.Errorf("bob's second allocation (total quota 3): code %d, want 486", code)
	}
	if u, tot := s.counter(t, "quota", scopeUser), s.counter(t, "quota", scopeTotal); u != 1 || tot != 1 {
		t.Errorf("quota refusals user=%v total=%v, want 1 and 1", u, tot)
	}
	if n := s.AllocationCount(); n != 3 {
		t.Errorf("allocations: %d, want 3", n)
	}

	// Freeing one of alice's allocations gives her slot back.
	if code := a1.refresh(0); code != 0 {
		t.Fatalf("delete by refresh(0): %d", code)
	}
	if code := a3.allocate(protoUDP); code != 0 {
		t.Errorf("alice's allocation after freeing one: code %d, want 0", code)
	}
	if got := s.counter(t, "allocations", transportUDP); got != 3 {
		t.Errorf("active allocations gauge %v, want 3", got)
	}
}

// Many clients racing for the last slots never push the server past its quota.
func TestQuota_ConcurrentAllocationsNeverExceedTotal(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAllocations = 5
	cfg.MaxAllocationsPerUser = 100
	s := startServer(t, cfg, nil)
	user, pass := Credentials(testSecret, "crowd", time.Hour, time.Now())

	const clients = 40
	var wg sync.WaitGroup
	codes := make(chan int, clients)
	for i := range clients {
		c := dialRaw(t, s, []string{"udp", "tcp"}[i%2], user, pass)
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- c.allocate(protoUDP)
		}()
	}
	wg.Wait()
	close(codes)
	ok := 0
	for code := range codes {
		switch code {
		case 0:
			ok++
		case 486, 508: // 508 when the race is lost after the quota check
		default:
			t.Errorf("unexpected code %d", code)
		}
	}
	if ok != cfg.MaxAllocations || s.AllocationCount() != cfg.MaxAllocations {
		t.Errorf("granted %d, held %d, want exactly %d", ok, s.AllocationCount(), cfg.MaxAllocations)
	}
}

// Credentials are short-lived: a new allocation needs unexpired ones, but an
// allocation made in time keeps being refreshed after they expire, until the
// maximum allocation lifetime closes it.
func TestLifetime_ExpiredCredentialsAndMaxAllocationLifetime(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.CredentialTTL = 10 * time.Minute
	cfg.MaxAllocationLifetime = time.Hour
	s := startServer(t, cfg, clk.Now)
	user, pass, err := s.Credentials("alice")
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s, "udp", user, pass)
	if code := c.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate: %d", code)
	}

	clk.Advance(20 * time.Minute) // credentials expired 10 minutes ago
	if code := c.refresh(10 * time.Minute); code != 0 {
		t.Errorf("refresh of a live allocation with expired credentials: code %d, want 0", code)
	}
	late := dialRaw(t, s, "udp", user, pass)
	if code := late.allocate(protoUDP); code != 401 {
		t.Errorf("new allocation with expired credentials: code %d, want 401", code)
	}
	if got := s.counter(t, "auth", reasonExpired); got != 1 {
		t.Errorf("expired auth failures %v, want 1", got)
	}

	s.sweep()
	if n := s.AllocationCount(); n != 1 {
		t.Fatalf("allocation closed before its maximum lifetime: %d held", n)
	}
	clk.Advance(40 * time.Minute) // one hour since creation
	s.sweep()
	if n := s.AllocationCount(); n != 0 {
		t.Errorf("allocation still held at its maximum lifetime: %d", n)
	}
	if got := testCounter(t, s.m.lifetimeClosed); got != 1 {
		t.Errorf("lifetime closures %v, want 1", got)
	}
}

// Each allocation is capped at BandwidthPerAllocation bytes/s: what exceeds
// the bucket is dropped until the clock refills it.
func TestBandwidth_CapDropsExcessUntilRefilled(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.BandwidthPerAllocation = 70_000 // bucket holds one second: 70 kB
	peerPort := mediaUDPEcho(t, &cfg)
	s := startServer(t, cfg, clk.Now)
	user, pass := Credentials(testSecret, "alice", time.Hour, clk.Now())
	c := dialRaw(t, s, "udp", user, pass)
	if code := c.allocate(protoUDP); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	if code := c.createPermission(net.IPv4(127, 0, 0, 1), peerPort, false); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	payload := make([]byte, 1000)
	total := func() float64 {
		return s.counter(t, "relayed", dirToPeer) + s.counter(t, "ratelimited", dirToPeer)
	}
	sendAndWait := func(n int) {
		t.Helper()
		want := total() + float64(n*len(payload))
		for i := 0; i < n; i++ {
			c.send(net.IPv4(127, 0, 0, 1), peerPort, payload)
			if i%20 == 19 {
				time.Sleep(2 * time.Millisecond) // let the server's socket drain
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for total() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if total() < want {
			t.Fatalf("server saw %v bytes, want %v", total(), want)
		}
	}

	sendAndWait(100)
	if got := s.counter(t, "relayed", dirToPeer); got != 70_000 {
		t.Errorf("relayed %v bytes within one second, want the 70000-byte cap", got)
	}
	if got := s.counter(t, "ratelimited", dirToPeer); got != 30_000 {
		t.Errorf("dropped %v bytes, want 30000", got)
	}
	clk.Advance(time.Second)
	sendAndWait(50)
	if got := s.counter(t, "relayed", dirToPeer); got != 120_000 {
		t.Errorf("after a second: relayed %v bytes, want 120000", got)
	}
}
