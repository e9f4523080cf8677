package loadkit

import (
	"os"
	"path/filepath"
	"testing"
)

// Load goes to loopback only: every other host is refused with the reason.
func TestLoopbackURL_OnlyLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://127.3.4.5:1/", "http://[::1]:8080", "http://localhost:8080", "https://127.0.0.1:8443"} {
		if _, err := LoopbackURL(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://example.com", "http://[2001:db8::1]:80", "ftp://127.0.0.1", "127.0.0.1:8080", "", "http://"} {
		if _, err := LoopbackURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStartCPUProfile_WritesAProfile(t *testing.T) {
	stop, err := StartCPUProfile("")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	path := filepath.Join(t.TempDir(), "cpu.out")
	if stop, err = StartCPUProfile(path); err != nil {
		t.Fatal(err)
	}
	stop()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("no profile written: %v", err)
	}
	if _, err := StartCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.out")); err == nil {
		t.Fatal("an unwritable path accepted")
	}
}
