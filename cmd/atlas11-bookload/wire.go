package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// The measured phase speaks HTTP/1.1 itself over one keep-alive connection
// per worker: the load generator runs on the same cores as the server, and
// net/http's client costs three goroutine hand-offs (caller, writeLoop,
// readLoop) and a dozen allocations per request. A worker here writes one
// request built in a reused buffer and reads the answer on its own
// goroutine. The requests are the real ones: real session cookies,
// distinct slots and idempotency keys, answers parsed and counted by status.

// bookTemplate builds the bytes of POST /api/v1/bookings requests.
type bookTemplate struct {
	head []byte // request line and the headers common to every booking
}

func newBookTemplate(host string) bookTemplate {
	return bookTemplate{head: []byte("POST /api/v1/bookings HTTP/1.1\r\nHost: " + host +
		"\r\nContent-Type: application/json\r\nUser-Agent: atlas11-bookload\r\n")}
}

// appendRequest appends booking request number i of a run to dst.
func (t bookTemplate) appendRequest(dst []byte, cookie, run string, i int, slotID string) []byte {
	bodyLen := len(`{"slot_id":""}`) + len(slotID)
	dst = append(dst, t.head...)
	dst = append(dst, "Cookie: "...)
	dst = append(dst, cookie...)
	dst = append(dst, "\r\nIdempotency-Key: "...)
	dst = append(dst, run...)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(bodyLen), 10)
	dst = append(dst, "\r\n\r\n"+`{"slot_id":"`...)
	dst = append(dst, slotID...)
	return append(dst, `"}`...)
}

// wireConn is one keep-alive connection owned by one worker.
type wireConn struct {
	addr string
	nc   net.Conn
	br   *bufio.Reader
	buf  []byte // request being written, reused
	body []byte // last answer's body, reused
}

// conns tracks every open connection so that the end of the run (the
// -duration bound or an interrupt) can unblock workers stuck in a read.
type conns struct {
	mu     sync.Mutex
	open   map[*wireConn]struct{}
	closed bool
}

func newConns() *conns { return &conns{open: map[*wireConn]struct{}{}} }

// closeAll closes every connection and refuses new ones.
func (cs *conns) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	for c := range cs.open {
		_ = c.nc.Close()
	}
}

// dial opens a connection to addr and registers it.
func (cs *conns) dial(ctx context.Context, addr string) (*wireConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &wireConn{addr: addr, nc: nc, br: bufio.NewReaderSize(nc, 8<<10)}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		_ = nc.Close()
		return nil, errors.New("run over")
	}
	cs.open[c] = struct{}{}
	return c, nil
}

func (cs *conns) drop(c *wireConn) {
	cs.mu.Lock()
	delete(cs.open, c)
	cs.mu.Unlock()
	_ = c.nc.Close()
}

// roundTrip writes c.buf and reads the answer: status code and body (valid
// until the next call). keep is false when the connection cannot be reused.
func (c *wireConn) roundTrip() (status int, body []byte, keep bool, err error) {
	if _, err := c.nc.Write(c.buf); err != nil {
		return 0, nil, false, err
	}
	line, err := c.readLine()
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 201 Created"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, keep := -1, false, true
	for {
		h, err := c.readLine()
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		name, val, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("bad header %q", h)
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(val)); err != nil || length < 0 || length > 1<<20 {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q", val)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(val, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = c.readChunked()
	case length >= 0:
		c.body = growTo(c.body, length)
		_, err = io.ReadFull(c.br, c.body)
	default: // the body runs to the end of the connection
		c.body, err = io.ReadAll(io.LimitReader(c.br, 1<<20))
		keep = false
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, c.body, keep, nil
}

func (c *wireConn) readChunked() error {
	c.body = c.body[:0]
	for len(c.body) <= 1<<20 {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers end with an empty line
				if line, err = c.readLine(); err != nil || len(line) == 0 {
					return err
				}
			}
		}
		start := len(c.body)
		c.body = growTo(c.body, start+int(n))
		if _, err := io.ReadFull(c.br, c.body[start:]); err != nil {
			return err
		}
		if line, err = c.readLine(); err != nil || len(line) != 0 {
			return fmt.Errorf("bad chunk end %q: %v", line, err)
		}
	}
	return errors.New("chunked body over 1 MiB")
}

// readLine returns one CRLF-terminated line without its end, valid until
// the next read.
func (c *wireConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
}

// growTo returns b resized to n bytes, keeping its content.
func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		nb := make([]byte, n, n+n/2)
		copy(nb, b)
		return nb
	}
	return b[:n]
}
