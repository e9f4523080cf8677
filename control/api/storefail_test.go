package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"atlas11/control"
	"atlas11/control/bolt"
)

// failingStore is the real bbolt store whose writes fail on demand with the
// error the bolt package returns when the disk refuses a commit.
type failingStore struct {
	*bolt.DB
	fail atomic.Pointer[error]
}

func (f *failingStore) Update(fn func(control.Tx) error) error {
	if e := f.fail.Load(); e != nil {
		return *e
	}
	return f.DB.Update(fn)
}

// syncBuffer is a log sink read while handlers write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A failed store write never shows its text to the client: a full or
// read-only disk is a 503 storage_unavailable with Retry-After, anything
// else a 500 "internal error"; both carry a request ID that the log line
// with the detail also carries.
func TestErrors_StorageFailureAndInternalErrorsShowNoDetail(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "atlas11.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store := &failingStore{DB: db}
	svc, err := control.NewService(control.Config{Store: store, Gateway: control.NewSandboxGateway(),
		CallSecret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	h, err := New(Deps{Service: svc, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	const secretPath = "/var/lib/atlas11/atlas11.db"
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{"disk full", fmt.Errorf("%w: %w", control.ErrStorageUnavailable, &os.PathError{Op: "write", Path: secretPath, Err: syscall.ENOSPC}), 503, "storage_unavailable", true},
		{"read-only", fmt.Errorf("%w: %w", control.ErrStorageUnavailable, &os.PathError{Op: "write", Path: secretPath, Err: syscall.EROFS}), 503, "storage_unavailable", true},
		{"raw ENOSPC", &os.PathError{Op: "write", Path: secretPath, Err: syscall.ENOSPC}, 503, "storage_unavailable", true},
		{"bug", errors.New("decode users/" + secretPath + ": unexpected end of JSON input"), 500, "internal", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store.fail.Store(&c.err)
			body := fmt.Sprintf(`{"email":"u%d@x.test","password":"correct horse battery","name":"U","role":"client"}`, i)
			resp, err := http.Post(srv.URL+"/api/v1/auth/signup", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, raw)
			}
			for _, leak := range []string{"/var/lib", "atlas11.db", "no space", "read-only", "JSON", "decode"} {
				if strings.Contains(string(raw), leak) {
					t.Fatalf("body leaks %q: %s", leak, raw)
				}
			}
			var eb ErrorBody
			if err := json.Unmarshal(raw, &eb); err != nil {
				t.Fatal(err)
			}
			if eb.Error.Code != c.code {
				t.Fatalf("code %q, want %q", eb.Error.Code, c.code)
			}
			if c.status == 500 && eb.Error.Message != "internal error" {
				t.Fatalf("message %q", eb.Error.Message)
			}
			if got := resp.Header.Get("Retry-After"); (got != "") != c.retryAfter {
				t.Fatalf("Retry-After %q", got)
			}
			id := resp.Header.Get("X-Request-ID")
			if id == "" || eb.Error.RequestID != id {
				t.Fatalf("request id: header %q, body %q", id, eb.Error.RequestID)
			}
			// The log line with this ID holds the detail for the operator.
			var found bool
			for _, line := range strings.Split(logs.String(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["request_id"] == id {
					found = strings.Contains(fmt.Sprint(rec["err"]), secretPath)
				}
			}
			if !found {
				t.Fatalf("no log line carries request %s with the detail:\n%s", id, logs.String())
			}
		})
	}
	// Once the disk has room again the same request succeeds.
	store.fail.Store(nil)
	resp, err := http.Post(srv.URL+"/api/v1/auth/signup", "application/json",
		strings.NewReader(`{"email":"after@x.test","password":"correct horse battery","name":"U","role":"client"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("after recovery: %d", resp.StatusCode)
	}
}
