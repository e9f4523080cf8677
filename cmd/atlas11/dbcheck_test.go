package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A data file that exists but is not a sound Atlas11 database must stop the
// real binary with one clear line and a non-zero exit, never a crash, and
// never be replaced or written to. The copies are damaged versions of a file
// the binary itself wrote.
func TestDBCheck_CorruptFileRefusedWithOneLineAndLeftUntouched(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := spawn(t, bin, dataDir)
	c := newClient(p.base)
	mustDo(t, c, "POST", "/api/v1/auth/signup", map[string]any{
		"email": "expert@dbcheck.test", "password": "correct horse battery", "name": "Expert", "role": "expert", "time_zone": "Europe/Paris"}, nil)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	good, err := os.ReadFile(filepath.Join(dataDir, "atlas11.db"))
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	if len(good) < 4*pageSize {
		t.Fatalf("database is only %d bytes", len(good))
	}
	// The newest meta page names the root page: zeroing it loses every bucket.
	meta := func(i int) (root, hwm, txid uint64) {
		b := good[i*pageSize+16:]
		return binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[40:]), binary.LittleEndian.Uint64(b[48:])
	}
	root, hwm, tx0 := meta(0)
	if r1, h1, tx1 := meta(1); tx1 > tx0 {
		root, hwm = r1, h1
	}
	// bbolt grows the file ahead of use: truncate inside the used pages.
	used := int(hwm) * pageSize
	zeroed := bytes.Clone(good)
	clear(zeroed[root*pageSize : (root+1)*pageSize])
	random := make([]byte, len(good))
	_, _ = rand.Read(random)

	cases := map[string][]byte{
		"empty":           {},
		"truncated":       good[:used/2],
		"truncated-short": good[:100],
		"zeroed-page":     zeroed,
		"random":          random,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "atlas11.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(t.TempDir(), "test.yaml")
			_ = os.WriteFile(cfg, []byte(testConfig), 0o644)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--config", cfg)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatal("the binary kept running on a damaged database")
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\nstderr: %s", err, stderr.String())
			}
			out := strings.TrimRight(stderr.String(), "\n")
			if strings.Contains(out, "\n") || !strings.Contains(out, "not a valid Atlas11 database") {
				t.Fatalf("want one clear line, got:\n%s", out)
			}
			for _, bad := range []string{"panic", "goroutine", "SIGBUS", "signal", "another atlas11"} {
				if strings.Contains(out, bad) {
					t.Fatalf("stderr has %q: %s", bad, out)
				}
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Fatalf("the binary started listening: %s", stdout.String())
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, content) {
				t.Fatalf("the damaged file was changed (%d bytes before, %d after, %v)", len(content), len(after), err)
			}
			t.Logf("%s: %s", name, out)
		})
	}
	// The intact file still opens: the check refuses damage, not data.
	dir := filepath.Join(t.TempDir(), "data")
	_ = os.MkdirAll(dir, 0o750)
	_ = os.WriteFile(filepath.Join(dir, "atlas11.db"), good, 0o600)
	p = spawn(t, bin, dir)
	if _, err := newClient(p.base).do("POST", "/api/v1/auth/signin", map[string]any{
		"email": "expert@dbcheck.test", "password": "correct horse battery"}, nil, nil); err != nil {
		t.Fatalf("intact copy: %v", err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}
