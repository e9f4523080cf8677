package turn

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests drive the server with an independent client, coturn's
// turnutils_uclient (Debian package coturn; .ci/run installs it).

var uclientTotals = regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$`)

// requireRelayed checks that uclient exited 0 and got back every message it sent.
func requireRelayed(t *testing.T, out string, code int) {
	t.Helper()
	if code != 0 {
		t.Fatalf("turnutils_uclient exit code %d, want 0:\n%s", code, out)
	}
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if m := uclientTotals.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			sent, _ = strconv.Atoi(m[1])
			recv, _ = strconv.Atoi(m[2])
		}
	}
	if sent == 0 || recv != sent || !strings.Contains(out, "Total lost packets 0 ") {
		t.Fatalf("relayed %d of %d messages, want all:\n%s", recv, sent, out)
	}
}

// requireRefused checks that uclient failed to allocate.
func requireRefused(t *testing.T, out string, code int) {
	t.Helper()
	if code == 0 || !strings.Contains(out, "Cannot complete Allocation") {
		t.Fatalf("turnutils_uclient exit code %d, want an allocation failure:\n%s", code, out)
	}
}

func TestUclient_ValidCredentialsAllocateAndRelay(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.CertFile, cfg.KeyFile = selfSignedCert(t, dir)
	cfg.TLSPort = 0
	udpPeer := uclientMediaPeer(t, &cfg)
	s := startServer(t, cfg, nil)
	port, tlsPort := strconv.Itoa(s.Port()), strconv.Itoa(s.TLSPort())
	user, pass := Credentials(testSecret, "alice", time.Hour, time.Now())

	for name, args := range map[string][]string{
		// UDP to the server, UDP relay to a peer on 127.0.0.1 (the media IP).
		"udp": {"-c", "-e", "127.0.0.1", "-r", udpPeer, "-p", port},
		// TCP to the server, UDP relay.
		"tcp": {"-t", "-c", "-e", "127.0.0.1", "-r", udpPeer, "-p", port},
		// TLS to the server, UDP relay.
		"tls": {"-t", "-S", "-c", "-e", "127.0.0.1", "-r", udpPeer, "-p", tlsPort},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-u", user, "-w", pass, "-n", "10"}, args...)
			out, code := uclient(t, append(args, "127.0.0.1")...)
			requireRelayed(t, out, code)
		})
	}
	t.Cleanup(func() {
		if s.counter(t, "relayed", dirToPeer) == 0 || s.counter(t, "relayed", dirFromPeer) == 0 {
			t.Errorf("relayed bytes not counted: to_peer=%v from_peer=%v",
				s.counter(t, "relayed", dirToPeer), s.counter(t, "relayed", dirFromPeer))
		}
	})
}

func TestUclient_BadCredentialsRefused(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	now := time.Now()
	valid, _ := Credentials(testSecret, "alice", time.Hour, now)
	expiredUser, expiredPass := Credentials(testSecret, "alice", -time.Minute, now)
	otherUser, otherPass := Credentials("a-secret-from-another-server", "alice", time.Hour, now)

	for _, c := range []struct {
		name, user, pass, reason string
	}{
		{"wrong-password", valid, "not-the-password", reasonBadCredentials},
		{"expired-username", expiredUser, expiredPass, reasonExpired},
		{"other-secret", otherUser, otherPass, reasonBadCredentials},
		{"not-a-rest-username", "alice", "secret", reasonMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.counter(t, "auth", c.reason)
			out, code := uclient(t, "-c", "-u", c.user, "-w", c.pass, "-n", "1", "-e", "127.0.0.1", "-p", strconv.Itoa(s.Port()), "127.0.0.1")
			requireRefused(t, out, code)
			if s.counter(t, "auth", c.reason) <= before {
				t.Errorf("auth failure with reason %q not counted", c.reason)
			}
		})
	}
	if n := s.AllocationCount(); n != 0 {
		t.Errorf("%d allocations after refused requests", n)
	}
}

func TestUclient_RotationAcceptsOldAndNewSecret(t *testing.T) {
	const oldSecret, newSecret = "the-old-secret-0123456789", "the-new-secret-0123456789"
	cfg := testConfig()
	cfg.Secret, cfg.PreviousSecrets = newSecret, []string{oldSecret}
	peer := uclientMediaPeer(t, &cfg)
	s := startServer(t, cfg, nil)
	run := func(secret string) (string, int) {
		user, pass := Credentials(secret, "alice", time.Hour, time.Now())
		return uclient(t, "-c", "-u", user, "-w", pass, "-e", "127.0.0.1", "-r", peer, "-n", "3",
			"-p", strconv.Itoa(s.Port()), "127.0.0.1")
	}

	for _, secret := range []string{oldSecret, newSecret} {
		out, code := run(secret)
		requireRelayed(t, out, code)
	}
	// Minted credentials use the new secret.
	ice, err := s.ICEServers("alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := restPassword(newSecret, ice[0].Username); ice[0].Credential != want {
		t.Errorf("minted with the wrong secret")
	}
	// The overlap ends: the old secret is refused, the new one still works.
	if err := s.SetSecrets(newSecret); err != nil {
		t.Fatal(err)
	}
	out, code := run(oldSecret)
	requireRefused(t, out, code)
	out, code = run(newSecret)
	requireRelayed(t, out, code)
}

func ExampleICEServers() {
	user, pass := Credentials("secret", "u42", time.Hour, time.Unix(1_800_000_000, 0))
	for _, s := range ICEServers("turn.example.org", 3478, 5349, user, pass) {
		fmt.Println(s.URLs, s.Username, s.Credential)
	}
	// The password is base64(HMAC-SHA1) as computed by
	// printf 1800003600:u42 | openssl dgst -sha1 -hmac secret -binary | base64
	// Output:
	// [turn:turn.example.org:3478?transport=udp turn:turn.example.org:3478?transport=tcp turns:turn.example.org:5349?transport=tcp] 1800003600:u42 Y81LsJDwEgxkS+Wmxd9YZWi4w78=
}
