package sfu

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// keyTap learns the SRTP keys of one connection, so the SFU can encrypt its
// subscribers' media itself and write it straight to the UDP socket instead of
// through pion's per-packet chain (interceptors, SRTP session, ICE, mux: a
// quarter of the server's CPU). pion keeps the keys to itself, but a setting
// engine can log the DTLS master secret (NSS key log: client random, master
// secret) and see the server hello (server random, cipher suite, SRTP
// profile). With the SFU as the DTLS server that is all RFC 5764's exporter
// needs. When the SFU ends up the DTLS client, the tap learns nothing and the
// connection keeps pion's path.
type keyTap struct {
	mu           sync.Mutex
	clientRandom []byte
	master       []byte
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      srtp.ProtectionProfile
}

// srtpKeys is one direction's SRTP master key and salt.
type srtpKeys struct {
	key, salt []byte
	profile   srtp.ProtectionProfile
}

var errNoKeys = errors.New("sfu: the DTLS handshake did not reveal SRTP keys")

// settingEngine returns se with the tap's hooks installed.
func (t *keyTap) settingEngine(se webrtc.SettingEngine) webrtc.SettingEngine {
	se.SetDTLSKeyLogWriter(t)
	se.SetDTLSServerHelloMessageHook(t.serverHello)
	return se
}

// Write takes a key log line: "CLIENT_RANDOM <hex client random> <hex master secret>".
func (t *keyTap) Write(p []byte) (int, error) {
	f := bytes.Fields(p)
	if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" {
		return len(p), nil
	}
	cr, err1 := hex.DecodeString(string(f[1]))
	ms, err2 := hex.DecodeString(string(f[2]))
	if err1 != nil || err2 != nil || len(cr) != 32 || len(ms) != 48 {
		return len(p), nil
	}
	t.mu.Lock()
	t.clientRandom, t.master = cr, ms
	t.mu.Unlock()
	return len(p), nil
}

// serverHello records what the server (the SFU) chose; the message goes out unchanged.
func (t *keyTap) serverHello(m handshake.MessageServerHello) handshake.Message {
	r := m.Random.MarshalFixed()
	t.mu.Lock()
	t.serverRandom = append(t.serverRandom[:0], r[:]...)
	if m.CipherSuiteID != nil {
		t.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			t.profile = srtp.ProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	t.mu.Unlock()
	return &m
}

// keys derives the SFU's (local, the DTLS server's) and the peer's (remote)
// SRTP keys, as pion does for its own session.
func (t *keyTap) keys() (local, remote srtpKeys, err error) {
	t.mu.Lock()
	cr, sr, ms, suite, profile := t.clientRandom, t.serverRandom, t.master, t.suite, t.profile
	t.mu.Unlock()
	if len(cr) != 32 || len(sr) != 32 || len(ms) != 48 || profile == 0 {
		return local, remote, errNoKeys
	}
	h := sha256.New
	switch suite { //nolint:exhaustive // the SHA-384 suites; every other one uses SHA-256
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		h = sha512.New384
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(exporter{ms, cr, sr, h}, false); err != nil {
		return local, remote, err
	}
	local = srtpKeys{key: cfg.Keys.LocalMasterKey, salt: cfg.Keys.LocalMasterSalt, profile: profile}
	remote = srtpKeys{key: cfg.Keys.RemoteMasterKey, salt: cfg.Keys.RemoteMasterSalt, profile: profile}
	return local, remote, nil
}

// exporter is RFC 5705's keying material exporter for DTLS 1.2.
type exporter struct {
	master, clientRandom, serverRandom []byte
	hash                               func() hash.Hash
}

func (e exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("sfu: exporter context unsupported")
	}
	seed := make([]byte, 0, len(label)+64)
	seed = append(append(append(seed, label...), e.clientRandom...), e.serverRandom...)
	return prf.PHash(e.master, seed, length, e.hash)
}

// newContext is an SRTP context for these keys.
func (k srtpKeys) newContext(opts ...srtp.ContextOption) (*srtp.Context, error) {
	return srtp.CreateContext(k.key, k.salt, k.profile, opts...)
}

// contextOnce returns *ctx, first made from keys once they are known; nil
// until then (the caller uses pion's path meanwhile). Owned by one goroutine.
func contextOnce(ctx **srtp.Context, keys *atomic.Pointer[srtpKeys], opts ...srtp.ContextOption) *srtp.Context {
	if *ctx == nil {
		if k := keys.Load(); k != nil {
			*ctx, _ = k.newContext(opts...) // nil on error: pion's path goes on
		}
	}
	return *ctx
}
