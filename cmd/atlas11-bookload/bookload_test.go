package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"atlas11/control"
	"atlas11/control/api"
	"atlas11/control/bolt"
)

// startServer runs the real API on a real bbolt file on loopback.
func startServer(t *testing.T) string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "atlas11.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	svc, err := control.NewService(control.Config{Store: db, Gateway: control.NewSandboxGateway(), CallSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Deps{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestBookload_BooksEverySlotOnceAndPrintsJSON(t *testing.T) {
	url := startServer(t)
	for _, mode := range [][]string{{"-c", "8"}, {"-c", "8", "-rate", "200"}} {
		var out bytes.Buffer
		args := append([]string{"-url", url, "-n", "40", "-experts", "2", "-clients", "5", "-duration", "30s"}, mode...)
		if err := run(t.Context(), args, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var r result
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
			t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
		}
		if r.Succeeded != 40 || r.Errors != 0 || r.P99ms <= 0 || r.BookingsPS <= 0 {
			t.Fatalf("result %+v\n%s", r, out.String())
		}
	}
}

func TestBookload_RefusesNonLoopbackAndUnboundedRuns(t *testing.T) {
	for _, args := range [][]string{
		{"-url", "http://example.com:8080"},
		{"-url", "http://10.0.0.1:8080"},
		{"-n", "0"},
		{"-duration", "0s"},
		{"-c", "0"},
	} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
