package sfu

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/srtp/v3"
)

// The keys the tap derives are the ones pion's own SRTP session gets from the
// DTLS connection, for each SRTP profile and for a SHA-384 cipher suite.
func TestKeyTap_CALL2_DerivesPionsSRTPKeys(t *testing.T) {
	for _, c := range []struct {
		name    string
		profile dtls.SRTPProtectionProfile
		suite   dtls.CipherSuiteID
	}{
		{"gcm", dtls.SRTP_AEAD_AES_128_GCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"cm-sha1-80", dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"sha384", dtls.SRTP_AEAD_AES_128_GCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	} {
		t.Run(c.name, func(t *testing.T) {
			tap := &keyTap{}
			server, client := dtlsPair(t, c.profile, c.suite, tap)
			local, remote, err := tap.keys()
			if err != nil {
				t.Fatal(err)
			}
			for _, side := range []struct {
				conn     *dtls.Conn
				isClient bool
				send     srtpKeys // what this side encrypts with
			}{{server, false, local}, {client, true, remote}} {
				st, ok := side.conn.ConnectionState()
				if !ok {
					t.Fatal("no connection state")
				}
				cfg := srtp.Config{Profile: srtp.ProtectionProfile(c.profile)}
				if err := cfg.ExtractSessionKeysFromDTLS(&st, side.isClient); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(cfg.Keys.LocalMasterKey, side.send.key) || !bytes.Equal(cfg.Keys.LocalMasterSalt, side.send.salt) {
					t.Fatalf("client %v: derived send key differs from pion's", side.isClient)
				}
			}
			if local.profile != srtp.ProtectionProfile(c.profile) {
				t.Fatalf("profile %v, want %v", local.profile, c.profile)
			}
		})
	}
}

// A connection where the SFU is the DTLS client reveals nothing: no keys, and
// its subscriber keeps pion's path.
func TestKeyTap_CALL2_NoKeysWithoutServerHello(t *testing.T) {
	tap := &keyTap{}
	if _, err := tap.Write([]byte("CLIENT_RANDOM 00 zz\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tap.keys(); err == nil {
		t.Fatal("keys from a malformed key log line and no server hello")
	}
}

// dtlsPair completes a DTLS handshake over loopback UDP, with the tap on the server.
func dtlsPair(t *testing.T, profile dtls.SRTPProtectionProfile, suite dtls.CipherSuiteID, tap *keyTap) (server, client *dtls.Conn) {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	sc, cc := loopbackUDP(t), loopbackUDP(t)
	base := func() *dtls.Config {
		return &dtls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
			SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{profile},
			CipherSuites:           []dtls.CipherSuiteID{suite},
			ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		}
	}
	scfg := base()
	scfg.ClientAuth = dtls.RequireAnyClientCert
	scfg.KeyLogWriter = tap
	scfg.ServerHelloMessageHook = tap.serverHello
	if server, err = dtls.Server(sc, cc.LocalAddr(), scfg); err != nil {
		t.Fatal(err)
	}
	if client, err = dtls.Client(cc, sc.LocalAddr(), base()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return server, client
}

// loopbackUDP is a UDP socket on 127.0.0.1, closed when the test ends.
func loopbackUDP(t testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
