package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// SIGTERM while an operator downloads a backup slowly: the whole shutdown
// still ends within http.shutdown_timeout. The backup holds a read
// transaction for as long as the client reads, and the store cannot close
// under it, so a drain that only waits would wait for the reader.
func TestShutdown_SlowBackupReaderDoesNotHoldTheExit(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "operator password 1"
		}
		return ""
	}
	if err := run(context.Background(), []string{"operator", "create", "--email", "ops@shutdown.test", "--name", "Ops", "--data", dataDir},
		env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// 24 MB of data: far more than socket buffers, so the download lasts as
	// long as the client reads.
	raw, err := bbolt.Open(filepath.Join(dataDir, "atlas11.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("test_padding"))
		if err != nil {
			return err
		}
		for i := range 24 {
			v := make([]byte, 1<<20)
			_, _ = rand.Read(v)
			if err := b.Put(fmt.Appendf(nil, "%03d", i), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()

	const shutdownTimeout = 2 * time.Second
	cfg := writeConfig(t, testConfig+"http:\n  shutdown_timeout: 2s\n  write_timeout: 60s\n")
	p := spawn(t, bin, dataDir, "--config", cfg)
	c := newClient(p.base)
	mustDo(t, c, "POST", "/api/v1/auth/signin", map[string]any{"email": "ops@shutdown.test", "password": "operator password 1"}, nil)
	u, _ := url.Parse(p.base)
	var cookies []string
	for _, ck := range c.http.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}

	conn := dialSmall(t, u.Host)
	fmt.Fprintf(conn, "GET /api/v1/operator/backup HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n", u.Host, strings.Join(cookies, "; "))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("backup: %v %v", resp, err)
	}
	// Read 1 KiB every 50 ms: alive, but slower than the file.
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		el := time.Since(start)
		t.Logf("exited %v after SIGTERM (shutdown_timeout %v): %v", el.Round(10*time.Millisecond), shutdownTimeout, err)
		if err != nil {
			t.Fatalf("exit status: %v", err)
		}
	case <-time.After(shutdownTimeout + 3*time.Second):
		_ = p.cmd.Process.Kill()
		<-exited
		t.Fatalf("still running %v after SIGTERM with shutdown_timeout %v", time.Since(start).Round(time.Millisecond), shutdownTimeout)
	}
	// What the kernel had already accepted may still drain to the reader;
	// the process is gone.
	_ = conn.Close()
}
