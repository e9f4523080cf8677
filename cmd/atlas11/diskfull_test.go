package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary on a real, small file system (a tmpfs mounted in a user
// and mount namespace) that fills up: a write the disk refuses answers 503
// storage_unavailable with Retry-After and no path or system text, and once
// space is back the same request succeeds.
func TestDiskFull_RealTmpfsAnswers503WithoutDetail(t *testing.T) {
	if out, err := exec.Command("unshare", "-rm", "true").CombinedOutput(); err != nil {
		t.Fatalf("this test needs user and mount namespaces (unshare -rm): %v %s", err, out)
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, testConfig)
	cmd := exec.Command("unshare", "-rm", "sh", "-c",
		`mount -t tmpfs -o size=8m tmpfs "$1" && exec "$2" serve --addr 127.0.0.1:0 --data "$1" --config "$3"`,
		"sh", dataDir, bin, cfg)
	stdout, _ := cmd.StdoutPipe()
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	base := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "http: listening on "); ok {
			base = u
			break
		}
	}
	if base == "" {
		t.Fatalf("binary did not start:\n%s", logs.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	// The process's own view of its data directory is the tmpfs.
	filler := fmt.Sprintf("/proc/%d/root%s/filler", cmd.Process.Pid, dataDir)
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = f.Close()

	signup := func(i int) (*http.Response, []byte) {
		body := fmt.Sprintf(`{"email":"u%d@disk.test","password":"correct horse battery","name":"U","role":"client"}`, i)
		resp, err := http.Post(base+"/api/v1/auth/signup", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, raw
	}
	// Pages already on disk can be rewritten without new space; the store
	// grows within a few sign-ups and then needs a block the disk lacks.
	var refused bool
	for i := 0; i < 200 && !refused; i++ {
		resp, raw := signup(i)
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK:
		case http.StatusServiceUnavailable:
			refused = true
			var eb struct {
				Error struct {
					Code, Message string
					RequestID     string `json:"request_id"`
				}
			}
			_ = json.Unmarshal(raw, &eb)
			if eb.Error.Code != "storage_unavailable" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("full disk: %s (Retry-After %q)", raw, resp.Header.Get("Retry-After"))
			}
			for _, leak := range []string{"/", "space", "atlas11.db", "write"} {
				if strings.Contains(eb.Error.Message, leak) {
					t.Fatalf("the answer leaks %q: %s", leak, raw)
				}
			}
			if eb.Error.RequestID == "" || eb.Error.RequestID != resp.Header.Get("X-Request-ID") {
				t.Fatalf("request id: body %q header %q", eb.Error.RequestID, resp.Header.Get("X-Request-ID"))
			}
			// The log line is written once the answer is out: wait for it.
			logged := func() bool {
				return strings.Contains(logs.String(), eb.Error.RequestID) && strings.Contains(logs.String(), "no space left on device")
			}
			for wait := 0; wait < 100 && !logged(); wait++ {
				time.Sleep(20 * time.Millisecond)
			}
			if !logged() {
				t.Fatalf("the log lacks the cause:\n%s", logs.String())
			}
			t.Logf("sign-up %d on a full disk: %d %s", i, resp.StatusCode, raw)
		default:
			t.Fatalf("sign-up %d on a full disk: %d %s", i, resp.StatusCode, raw)
		}
	}
	if !refused {
		t.Fatal("200 sign-ups fitted on a full disk: the test never filled it")
	}
	// Readiness sees it too: a balancer stops sending work here.
	if st, b := getHealth(t, base+"/readyz"); st != http.StatusServiceUnavailable || b.Checks["store"].Status != "fail" {
		t.Fatalf("/readyz on a full disk: %d %+v", st, b)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if resp, raw := signup(1000); resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("after freeing space: %d %s", resp.StatusCode, raw)
	}
	deadline := time.Now().Add(storageFailHold + 5*time.Second)
	for {
		st, b := getHealth(t, base+"/readyz")
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after freeing space: %d %+v", st, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
