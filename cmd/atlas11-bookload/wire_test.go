package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The hand-written HTTP/1.1 client must read every answer shape net/http
// may send: a sized body, a chunked body, and a connection the server
// closes after answering.
func TestWire_ReadsSizedChunkedAndClosingAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Idempotency-Key") {
		case "run-1": // chunked: flushed before the end
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":`))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(`{"code":"slot_taken"}}`))
		case "run-2":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":"b2"}`))
		default:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":"b0"}`))
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	bk := &booker{tpl: newBookTemplate(host), addr: host, conns: newConns(), run: "run",
		clients: []*account{{cookie: "atlas11_session=x"}}, slots: []slotRef{{"s0"}, {"s1"}, {"s2"}, {"s3"}}}
	defer bk.conns.closeAll()
	var c *wireConn
	want := []string{"201", "409 slot_taken", "201", "201"}
	for i, w := range want {
		if got := bk.book(t.Context(), &c, i, time.Now()); got.status != w {
			t.Fatalf("request %d: %q, want %q", i, got.status, w)
		}
		if i == 2 && c != nil {
			t.Fatal("connection kept after Connection: close")
		}
	}
}
