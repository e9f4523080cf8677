package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"

	"atlas11/sfu"
)

// sigConn is the client side of the SFU's signaling protocol v1 (sfu/signal.go).
type sigConn struct {
	ws     *websocket.Conn
	in     chan sfu.ServerMessage
	readEr chan error
	done   chan struct{}
	once   sync.Once
	wmu    sync.Mutex
}

// dialSignal connects, sends the join and waits for "joined" (or the refusal).
func dialSignal(ctx context.Context, url, token string) (*sigConn, sfu.ServerMessage, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, sfu.ServerMessage{}, fmt.Errorf("signaling dial %s: %w", url, err)
	}
	ws.SetReadLimit(sfu.MaxMessageBytes)
	c := &sigConn{ws: ws, in: make(chan sfu.ServerMessage, 64), readEr: make(chan error, 1), done: make(chan struct{})}
	go c.readLoop()
	if err := c.send(dctx, sfu.ClientMessage{Type: sfu.TypeJoin, Token: token}); err != nil {
		c.close()
		return nil, sfu.ServerMessage{}, err
	}
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.close()
				return nil, sfu.ServerMessage{}, fmt.Errorf("signaling closed before joined: %w", c.err())
			}
			switch m.Type {
			case sfu.TypeJoined:
				return c, m, nil
			case sfu.TypeError:
				c.close()
				return nil, sfu.ServerMessage{}, fmt.Errorf("join refused: %s: %s", m.Code, m.Message)
			}
		case <-dctx.Done():
			c.close()
			return nil, sfu.ServerMessage{}, fmt.Errorf("no joined message: %w", dctx.Err())
		}
	}
}

func (c *sigConn) readLoop() {
	defer close(c.in)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.readEr <- err
			return
		}
		var m sfu.ServerMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		select {
		case c.in <- m:
		case <-c.done:
			return
		}
	}
}

func (c *sigConn) err() error {
	select {
	case err := <-c.readEr:
		return err
	default:
		return errors.New("closed")
	}
}

func (c *sigConn) send(ctx context.Context, m sfu.ClientMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, b)
}

// leave says goodbye (no grace period) and closes the socket.
func (c *sigConn) leave() {
	_ = c.send(context.Background(), sfu.ClientMessage{Type: sfu.TypeLeave})
	c.close()
}

func (c *sigConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	})
}
