package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"atlas11/control"
)

// answer is one response of a parallel burst.
type answer struct {
	status int
	code   string
	header http.Header
}

// burst sends n POSTs to path at once from n goroutines over fresh
// connections (every attacker is its own client) and returns the answers.
func (e *env) burst(n int, path string, body func(i int) any) []answer {
	e.t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	out := make([]answer, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		j, _ := json.Marshal(body(i))
		wg.Go(func() {
			<-start
			res, err := hc.Post(e.srv.URL+Prefix+path, "application/json", bytes.NewReader(j))
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var eb ErrorBody
			_ = json.Unmarshal(b, &eb)
			out[i] = answer{status: res.StatusCode, code: eb.Error.Code, header: res.Header}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

func countStatus(as []answer) map[int]int {
	m := map[int]int{}
	for _, a := range as {
		m[a.status]++
	}
	return m
}

// Found from outside: 100 parallel wrong passwords for one account all got
// 401, none 429, because every request passed the limiter's check before any
// had recorded its failure. The attempt is now counted atomically first.
func TestAuth_ParallelWrongPasswordsHitTheLimit(t *testing.T) {
	e := newEnv(t)
	e.signUp(control.RoleClient) // client1@, 5 failures per email
	got := e.burst(100, "/auth/signin", func(int) any {
		return map[string]any{"email": "client1@atlas11.test", "password": "not the password"}
	})
	n := countStatus(got)
	if n[http.StatusUnauthorized] != 5 || n[http.StatusTooManyRequests] != 95 {
		t.Fatalf("100 parallel wrong passwords: %v, want exactly 5 × 401 then 95 × 429", n)
	}
	for _, a := range got {
		if a.status == http.StatusTooManyRequests && (a.code != "too_many_attempts" || a.header.Get("Retry-After") == "") {
			t.Fatalf("429 without its code or Retry-After: %+v", a)
		}
	}
	// The right password is held back too, until the clock refills a token.
	u := e.anon()
	good := map[string]any{"email": "client1@atlas11.test", "password": "correct horse battery"}
	u.post("/auth/signin", good).wantErr(http.StatusTooManyRequests, "too_many_attempts")
}
