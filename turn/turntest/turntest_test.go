package turntest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"atlas11/turn"
)

func TestStart_RelaysToTheMediaIPAndCountsBytes(t *testing.T) {
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := Start(t, peer.LocalAddr().(*net.UDPAddr).Port) // the peer stands for the media server
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := peer.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = peer.WriteToUDP(buf[:n], from)
		}
	}()
	user, pass := turn.Credentials(Secret, "lead", time.Hour, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "turnutils_uclient", "-c", "-u", user, "-w", pass, "-n", "3",
		"-e", "127.0.0.1", "-r", strconv.Itoa(peer.LocalAddr().(*net.UDPAddr).Port),
		"-p", strconv.Itoa(s.Port()), "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("turnutils_uclient: %v\n%s", err, out)
	}
	if to, from := s.RelayedBytes(t); to < 300 || from < 300 {
		t.Errorf("relayed bytes to=%v from=%v, want at least the 3 x 100 bytes sent", to, from)
	}
	ice, err := s.ICEServers("lead")
	if err != nil || len(ice) != 1 || len(ice[0].URLs) != 2 {
		t.Errorf("ICE servers %+v (%v)", ice, err)
	}
}
