package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"atlas11/control"
	"atlas11/control/bolt"
)

// openCopy opens a backup file as a store and returns a service on it.
func openCopy(t *testing.T, path string) *control.Service {
	t.Helper()
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("backup is not a usable database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	svc, err := control.NewService(control.Config{Store: db, Gateway: control.NewSandboxGateway(), CallSecret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestBackup_HotFromRunningServerAndColdFromFile(t *testing.T) {
	w := newWorld(t) // running server with an operator
	w.user("expert")
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "operator password 1"
		}
		return ""
	}
	hot := filepath.Join(t.TempDir(), "hot.db")
	var out strings.Builder
	if err := run(context.Background(), []string{"backup", "--url", w.base, "--email", "ops@e2e.test", "--out", hot}, env, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wrote") {
		t.Fatalf("output %q", out.String())
	}
	svc := openCopy(t, hot)
	if _, err := svc.UserByEmail(context.Background(), "expert1@e2e.test"); err != nil {
		t.Fatalf("hot backup lacks the expert: %v", err)
	}
	if err := svc.VerifyLedger(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A wrong password gets a clear refusal and leaves no file behind.
	bad := filepath.Join(t.TempDir(), "bad.db")
	err := run(context.Background(), []string{"backup", "--url", w.base, "--email", "ops@e2e.test", "--out", bad}, noEnv, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sign in") {
		t.Fatalf("backup without password: %v", err)
	}
	if _, statErr := os.Stat(bad); !os.IsNotExist(statErr) {
		t.Fatalf("a failed backup left %s behind (%v)", bad, statErr)
	}

	// Cold backup of a stopped server's data directory.
	dir := t.TempDir()
	if err := run(context.Background(), []string{"operator", "create", "--email", "o@cold.test", "--name", "O", "--data", dir}, env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cold := filepath.Join(t.TempDir(), "cold.db")
	if err := run(context.Background(), []string{"backup", "--data", dir, "--out", cold}, noEnv, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if u, err := openCopy(t, cold).UserByEmail(context.Background(), "o@cold.test"); err != nil || u.Role != control.RoleOperator {
		t.Fatalf("cold backup: %+v %v", u, err)
	}
}

func TestOperatorCreate_RefusesWeakPasswordAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	short := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "short"
		}
		return ""
	}
	err := run(context.Background(), []string{"operator", "create", "--email", "o@x.test", "--name", "O", "--data", dir}, short, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("weak password: %v", err)
	}
	// The API's policy holds here too: a common password, or one holding
	// the operator's e-mail or name, is refused before anything is stored.
	for _, c := range []struct{ email, name, password string }{
		{"o@x.test", "O", "1234567890"},
		{"o@x.test", "O", "Password123"},
		{"root.ops@x.test", "O", "my root.ops@x.test pw"},
		{"o@x.test", "Gaspard Roux", "GASPARD-is-the-boss"},
	} {
		err := run(context.Background(), []string{"operator", "create", "--email", c.email, "--name", c.name, "--data", dir, "--password-stdin"},
			noEnv, strings.NewReader(c.password+"\n"), io.Discard, io.Discard)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), "weak_password") {
			t.Fatalf("operator create with %q: %v", c.password, err)
		}
	}
	args := []string{"operator", "create", "--email", "o@x.test", "--name", "O", "--data", dir, "--password-stdin"}
	if err := run(context.Background(), args, noEnv, strings.NewReader("a long operator password\n"), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), args, noEnv, strings.NewReader("a long operator password\n"), io.Discard, io.Discard); err == nil {
		t.Fatal("a second operator with the same e-mail was created")
	}
}
