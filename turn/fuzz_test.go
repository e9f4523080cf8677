package turn

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Run longer with: go test ./turn -run '^$' -fuzz FuzzParseUsername -fuzztime 30s
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1800000000:alice", ":", "1:", ":x", "-1:a", "99999999999999999999:a",
		"1800000000:a:b", "1800000000:\x00", "1800000000:é", "alice", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		expiry, userID, err := ParseUsername(username)
		if err != nil {
			return
		}
		if userID == "" || strings.Contains(userID, ":") || len(userID) > maxUserIDLen {
			t.Fatalf("accepted user ID %q from %q", userID, username)
		}
		// Whatever parses, mints back to the same user and expiry.
		again := strconv.FormatInt(expiry.Unix(), 10) + ":" + userID
		e2, u2, err := ParseUsername(again)
		if err != nil || u2 != userID || !e2.Equal(expiry) {
			t.Fatalf("round trip of %q: %q %v %v", username, u2, e2, err)
		}
	})
}

// The TCP re-framer never panics, never reports a frame longer than what it
// was fed, and reports the same frames whatever the chunking.
func FuzzStreamObserver(f *testing.F) {
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Unix(1_800_000_000, 0))
	req := allocateRequest(f, user, pass)
	f.Add(req, uint8(7))
	f.Add(append(append([]byte{}, req...), 0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0), uint8(1))
	f.Add([]byte{0x40, 0x00, 0xFF, 0xFF, 1}, uint8(2))
	f.Add(req[:30], uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole := collectFrames(stream, len(stream)+1)
		split := collectFrames(stream, int(chunk)+1)
		total := 0
		for _, fr := range whole {
			// Trailing bytes let nextFrame decide on frames shorter than 9 bytes.
			if n, res := nextFrame(append(fr, make([]byte, 9)...)); res != frameComplete || n != len(fr) {
				t.Fatalf("frame of %d bytes does not re-frame to itself", len(fr))
			}
			total += len(fr)
		}
		if total > len(stream) {
			t.Fatalf("framed %d bytes out of %d", total, len(stream))
		}
		if len(split) != len(whole) {
			t.Fatalf("%d frames in one read, %d in chunks of %d", len(whole), len(split), int(chunk)+1)
		}
	})
}

func collectFrames(stream []byte, chunk int) [][]byte {
	var o streamObserver
	var frames [][]byte
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		took := o.feedOne(stream[:n], func(fr []byte) { frames = append(frames, append([]byte(nil), fr...)) })
		if took < 1 || took > n {
			panic("feedOne took a wrong byte count")
		}
		stream = stream[took:]
	}
	return frames
}

// The verifier accepts a request signed with any configured secret and
// nothing else, and survives any input.
func FuzzVerifierObserve(f *testing.F) {
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Unix(1_800_000_000, 0))
	f.Add(allocateRequest(f, user, pass))
	f.Add(allocateRequest(f, user, "wrong"))
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42})
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := newVerifier("atlas11", time.Now, testSecret, []string{"older-secret-0000"})
		v.observe(src, b)
		if key, ok := v.lookup(src, user); ok && len(key) != 16 {
			t.Fatalf("key of %d bytes", len(key))
		}
	})
}

func TestVerifier_KnowsWhichSecretSigned(t *testing.T) {
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	user, _ := Credentials("x", "alice", time.Hour, time.Now())
	v := newVerifier("atlas11", time.Now, "current-secret-000", []string{"previous-secret-00"})
	for secret, ok := range map[string]bool{"current-secret-000": true, "previous-secret-00": true, "unknown-secret-00": false} {
		v.observe(src, allocateRequest(t, user, restPassword(secret, user)))
		key, found := v.lookup(src, user)
		if found != ok {
			t.Errorf("%s: verified=%v, want %v", secret, found, ok)
		}
		if ok && string(key) != string(longTermKey(user, "atlas11", restPassword(secret, user))) {
			t.Errorf("%s: wrong key", secret)
		}
	}
}
