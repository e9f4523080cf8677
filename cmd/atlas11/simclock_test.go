package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A --clock=sim demo killed with SIGKILL resumes at the simulated instant
// it had reached, not at wall time, which lies before work the demo already
// did (settlements, payouts).
func TestSimClock_SurvivesSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := func(k string) string {
		if k == "ATLAS11_OPERATOR_PASSWORD" {
			return "a long operator password"
		}
		return ""
	}
	if err := run(context.Background(), []string{"operator", "create", "--email", "o@sim.test", "--name", "O", "--data", dataDir},
		env, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	type clockView struct {
		Now time.Time `json:"now"`
	}
	moved := time.Time{}
	for i := range 2 {
		p := spawn(t, bin, dataDir, "--clock=sim")
		op := newClient(p.base)
		mustDo(t, op, "POST", "/api/v1/auth/signin", map[string]any{"email": "o@sim.test", "password": "a long operator password"}, nil)
		var c clockView
		mustDo(t, op, "GET", "/api/v1/sim/clock", nil, &c)
		if i == 0 {
			mustDo(t, op, "POST", "/api/v1/sim/clock", map[string]any{"advance": "720h"}, &c)
			moved = c.Now
			if time.Until(moved) < 700*time.Hour {
				t.Fatalf("clock at %v after advancing 720 h", moved)
			}
		} else if !c.Now.Equal(moved) {
			t.Fatalf("after SIGKILL the simulation clock restarted at %v, want %v", c.Now, moved)
		}
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}
