package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"

	bbolt "go.etcd.io/bbolt"
)

// copyFixture copies testdata/schema1 (a data directory written by the
// schema-1 binary, see its README) into a fresh data directory.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"atlas11.db", "secrets.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "schema1", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The upgrade path: a data directory written by the previous schema
// version's binary (users, a settled booking, a cancelled and refunded one,
// a payout run) is upgraded in place at start; everyone signs in with the
// same password, every record reads as before, the ledger still balances,
// and the file now carries the new version.
func TestUpgrade_Schema1DataDirectoryUpgradedInPlace(t *testing.T) {
	bin := buildBinary(t)
	dir := copyFixture(t)
	p := spawn(t, bin, dir)
	signIn := func(email, pass string) *client {
		c := newClient(p.base)
		mustDo(t, c, "POST", "/api/v1/auth/signin", map[string]any{"email": email, "password": pass}, nil)
		return c
	}
	op := signIn("ops@fixture.test", "quiet harbour lantern")
	ex := signIn("expert@fixture.test", "amber orchard violin")
	cl := signIn("client@fixture.test", "silver meadow compass")

	var bookings []control.Booking
	mustDo(t, cl, "GET", "/api/v1/bookings", nil, &bookings)
	status := map[control.BookingStatus]int{}
	for _, b := range bookings {
		status[b.Status]++
		if b.Status == control.StatusCancelled && b.RefundedCents != b.PaidCents {
			t.Errorf("cancelled booking %s: refunded %d of %d", b.ID, b.RefundedCents, b.PaidCents)
		}
	}
	if len(bookings) != 2 || status[control.StatusCompleted] != 1 || status[control.StatusCancelled] != 1 {
		t.Fatalf("bookings after the upgrade: %+v", bookings)
	}
	var me struct {
		User control.User `json:"user"`
	}
	mustDo(t, ex, "GET", "/api/v1/me", nil, &me)
	var payouts []control.Payout
	mustDo(t, ex, "GET", "/api/v1/experts/"+me.User.ID+"/payouts", nil, &payouts)
	if len(payouts) != 1 || payouts[0].AmountCents != 5400 {
		t.Fatalf("expert's payouts after the upgrade: %+v", payouts)
	}
	var runs []control.PayoutRun
	mustDo(t, op, "GET", "/api/v1/operator/payouts", nil, &runs)
	if len(runs) != 1 || runs[0].TotalCents != 5400 {
		t.Fatalf("payout runs after the upgrade: %+v", runs)
	}
	var jobs struct {
		Failed []control.FailedJob `json:"failed"`
	}
	mustDo(t, op, "GET", "/api/v1/operator/jobs", nil, &jobs)
	if len(jobs.Failed) != 0 {
		t.Fatalf("failed jobs after the upgrade: %+v", jobs.Failed)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()

	db, err := bolt.Open(filepath.Join(dir, "atlas11.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Version(); err != nil || v != bolt.SchemaVersion || v < 2 {
		t.Fatalf("schema version after the upgrade %d (%v), want %d", v, err, bolt.SchemaVersion)
	}
	svc, err := control.NewService(control.Config{Store: db, Gateway: control.NewSandboxGateway(), Clock: control.SystemClock{},
		CallSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.VerifyLedger(context.Background()); err != nil {
		t.Fatalf("ledger after the upgrade: %v", err)
	}
}

// Rolling a binary back over a file a newer one upgraded: it refuses to
// start with one clear line and a non-zero exit, and leaves the file as it
// was (the way back is the backup taken before the upgrade).
func TestUpgrade_NewerFileRefusedByTheBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := copyFixture(t)
	path := filepath.Join(dir, "atlas11.db")
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], bolt.SchemaVersion+1)
		return tx.Bucket([]byte("_schema")).Put([]byte("version"), b[:])
	})
	_ = raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	cfg := filepath.Join(t.TempDir(), "test.yaml")
	_ = os.WriteFile(cfg, []byte(testConfig), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ctx.Err() != nil || err == nil {
		t.Fatalf("the binary ran on a newer file (err %v):\n%s", err, stderr.String())
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "newer schema") || strings.Contains(msg, "goroutine") {
		t.Fatalf("want one clear line naming the newer schema, got:\n%s", msg)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the refused file was changed")
	}
}

// The restore procedure of docs/operations.md: a hot backup taken with
// `atlas11 backup --url` from a running server, put with the old
// secrets.json into an empty data directory, starts and serves the same
// accounts and bookings.
func TestRestore_HotBackupIntoAnEmptyDataDirectory(t *testing.T) {
	bin := buildBinary(t)
	dir := copyFixture(t)
	p := spawn(t, bin, dir)
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "quiet harbour lantern"
		}
		return ""
	}
	if err := run(context.Background(), []string{"backup", "--url", p.base, "--email", "ops@fixture.test", "--out", copyPath},
		env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()

	restored := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(restored, 0o750); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{copyPath: "atlas11.db", filepath.Join(dir, "secrets.json"): "secrets.json"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	q := spawn(t, bin, restored)
	defer func() { _ = q.cmd.Process.Kill(); _ = q.cmd.Wait() }()
	cl := newClient(q.base)
	mustDo(t, cl, "POST", "/api/v1/auth/signin", map[string]any{"email": "client@fixture.test", "password": "silver meadow compass"}, nil)
	var bookings []control.Booking
	mustDo(t, cl, "GET", "/api/v1/bookings", nil, &bookings)
	if len(bookings) != 2 {
		t.Fatalf("bookings after the restore: %+v", bookings)
	}
}
