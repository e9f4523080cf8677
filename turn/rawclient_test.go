package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// rawClient speaks TURN byte by byte so tests control every attribute
// (IPv4-mapped peer addresses, exact error codes) that a polished client hides.
type rawClient struct {
	t      *testing.T
	conn   net.PacketConn
	server net.Addr
	user   string
	pass   string
	realm  string
	nonce  string
}

const (
	protoUDP = 17
	protoTCP = 6
)

// dialRaw opens a client on network "udp" or "tcp" to s.
func dialRaw(t *testing.T, s *testServer, network, user, pass string) *rawClient {
	t.Helper()
	c := &rawClient{t: t, user: user, pass: pass}
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.conn = pc
		c.server = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.Port()}
	case "tcp":
		tc, err := net.Dial("tcp4", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		c.conn = turn.NewSTUNConn(tc)
		c.server = tc.RemoteAddr()
	default:
		t.Fatalf("network %q", network)
	}
	t.Cleanup(func() { _ = c.conn.Close() })
	return c
}

// attrFunc adapts a function to stun.Setter.
type attrFunc func(m *stun.Message) error

func (f attrFunc) AddTo(m *stun.Message) error { return f(m) }

// xorPeer encodes XOR-PEER-ADDRESS; asV6 forces the IPv6 family so that
// ::ffff:a.b.c.d travels as the client wrote it.
func xorPeer(ip net.IP, port int, asV6 bool) stun.Setter {
	return attrFunc(func(m *stun.Message) error {
		var cookie [4]byte
		binary.BigEndian.PutUint32(cookie[:], 0x2112A442)
		var addr []byte
		family := byte(1)
		if ip4 := ip.To4(); ip4 != nil && !asV6 {
			addr = append([]byte(nil), ip4...)
		} else {
			family = 2
			addr = append([]byte(nil), ip.To16()...)
		}
		key := append(cookie[:], m.TransactionID[:]...)
		for i := range addr {
			addr[i] ^= key[i]
		}
		v := []byte{0, family, 0, 0}
		binary.BigEndian.PutUint16(v[2:], uint16(port)^0x2112)
		m.Add(stun.AttrXORPeerAddress, append(v, addr...))
		return nil
	})
}

func requestedTransport(proto byte) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{proto, 0, 0, 0}}
}

func lifetime(d time.Duration) stun.Setter {
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(d/time.Second))
	return stun.RawAttribute{Type: stun.AttrLifetime, Value: v}
}

// do sends one request (answering the 401 challenge once) and returns the
// response and its error code, 0 on success.
func (c *rawClient) do(method stun.Method, attrs ...stun.Setter) (*stun.Message, int) {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		res, code, err := c.once(method, attrs...)
		if err != nil {
			// Errorf, not Fatalf: clients also run on other goroutines.
			c.t.Errorf("%s: %v", method, err)
			return nil, -1
		}
		if (code == 401 || code == 438) && attempt == 0 {
			var nonce stun.Nonce
			var realm stun.Realm
			if nonce.GetFrom(res) == nil && realm.GetFrom(res) == nil {
				hadNonce := c.nonce != ""
				c.nonce, c.realm = nonce.String(), realm.String()
				if !hadNonce || code == 438 {
					continue
				}
			}
		}
		return res, code
	}
}

func (c *rawClient) once(method stun.Method, attrs ...stun.Setter) (*stun.Message, int, error) {
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	if c.nonce != "" {
		setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
			stun.NewLongTermIntegrity(c.user, c.realm, c.pass))
	}
	setters = append(setters, stun.Fingerprint)
	req, err := stun.Build(setters...)
	if err != nil {
		return nil, 0, err
	}
	if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil, 0, err
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() != nil || res.TransactionID != req.TransactionID {
			continue // data indications and the like
		}
		if res.Type.Class == stun.ClassErrorResponse {
			var ec stun.ErrorCodeAttribute
			if err := ec.GetFrom(res); err != nil {
				return res, 0, err
			}
			return res, int(ec.Code), nil
		}
		return res, 0, nil
	}
}

func (c *rawClient) allocate(proto byte) int {
	c.t.Helper()
	_, code := c.do(stun.MethodAllocate, requestedTransport(proto))
	return code
}

// relayed returns the relayed address of a successful Allocate response.
func (c *rawClient) allocateAddr(proto byte) (*net.UDPAddr, int) {
	c.t.Helper()
	res, code := c.do(stun.MethodAllocate, requestedTransport(proto))
	if code != 0 {
		return nil, code
	}
	var a stun.XORMappedAddress
	if err := a.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatal(err)
	}
	return &net.UDPAddr{IP: a.IP, Port: a.Port}, 0
}

// createPermission asks for a permission for ip, naming port in the peer
// address (RFC 5766 ignores it; the guard does not).
func (c *rawClient) createPermission(ip net.IP, port int, asV6 bool) int {
	c.t.Helper()
	_, code := c.do(stun.MethodCreatePermission, xorPeer(ip, port, asV6))
	return code
}

func (c *rawClient) channelBind(ip net.IP, port int, channel uint16) int {
	c.t.Helper()
	_, code := c.do(stun.MethodChannelBind, xorPeer(ip, port, false),
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(channel >> 8), byte(channel), 0, 0}})
	return code
}

func (c *rawClient) connect(ip net.IP, port int, asV6 bool) int {
	c.t.Helper()
	_, code := c.do(stun.MethodConnect, xorPeer(ip, port, asV6))
	return code
}

func (c *rawClient) refresh(d time.Duration) int {
	c.t.Helper()
	_, code := c.do(stun.MethodRefresh, lifetime(d))
	return code
}

// send relays data to a peer with a Send indication (no response).
func (c *rawClient) send(ip net.IP, port int, data []byte) {
	c.t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		xorPeer(ip, port, false), stun.RawAttribute{Type: stun.AttrData, Value: data}, stun.Fingerprint)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil && !errors.Is(err, net.ErrClosed) {
		c.t.Fatal(err)
	}
}

// dataIndication waits for a Data indication and returns its payload.
func (c *rawClient) dataIndication(wait time.Duration) ([]byte, bool) {
	c.t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(wait)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil, false
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.Type == stun.NewType(stun.MethodData, stun.ClassIndication) {
			if v, err := m.Get(stun.AttrData); err == nil {
				return v, true
			}
		}
	}
}
