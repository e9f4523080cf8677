package turn

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestUclient_Probe(t *testing.T) {
	s := startServer(t, testConfig(), time.Now)
	peer := udpEcho(t)
	tp := tcpEcho(t)
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())
	euser, epass := Credentials(testSecret, "alice", -time.Hour, time.Now())
	ouser, opass := Credentials("another-secret-xxxxxxxx", "alice", time.Hour, time.Now())
	pp := strconv.Itoa(peer.LocalAddr().(*net.UDPAddr).Port)
	port := strconv.Itoa(s.Port())
	for name, args := range map[string][]string{
		"valid":    {"-c", "-u", user, "-w", pass, "-e", "127.0.0.1", "-r", pp, "-n", "10", "-p", port, "127.0.0.1"},
		"validtcp": {"-t", "-c", "-u", user, "-w", pass, "-e", "127.0.0.1", "-r", pp, "-n", "10", "-p", port, "127.0.0.1"},
		"tcprelay": {"-T", "-u", user, "-w", pass, "-n", "10", "-p", port, "127.0.0.1"},
		"wrong":    {"-c", "-u", user, "-w", "nope", "-e", "127.0.0.1", "-r", pp, "-n", "10", "-p", port, "127.0.0.1"},
		"expired":  {"-c", "-u", euser, "-w", epass, "-e", "127.0.0.1", "-r", pp, "-n", "10", "-p", port, "127.0.0.1"},
		"other":    {"-c", "-u", ouser, "-w", opass, "-e", "127.0.0.1", "-r", pp, "-n", "10", "-p", port, "127.0.0.1"},
		"forbidden":    {"-c", "-u", user, "-w", pass, "-e", "10.0.0.1", "-r", pp, "-n", "10", "-p", port, "127.0.0.1"},
	} {
		st := time.Now()
		out, code := uclient(t, args...)
		t.Logf("%s code=%d took=%s\n%s", name, code, time.Since(st), out)
	}
	_ = tp
}
