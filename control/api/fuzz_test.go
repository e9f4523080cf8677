package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"atlas11/control"
)

// One fuzz target per operation that decodes a request body. Each starts
// from the operation's example in the OpenAPI document and sends whatever
// the fuzzer makes of it to the real handler on a real bbolt file, as the
// right kind of signed-in caller. Whatever the body: never a 5xx or a panic,
// every answer has its documented shape, and a refusal commits nothing.

func FuzzSignUpBody(f *testing.F)               { fuzzBody(f, "signUp") }
func FuzzSignInBody(f *testing.F)               { fuzzBody(f, "signIn") }
func FuzzUpdateProfileBody(f *testing.F)        { fuzzBody(f, "updateProfile") }
func FuzzAddRuleBody(f *testing.F)              { fuzzBody(f, "addRule") }
func FuzzAddSlotBody(f *testing.F)              { fuzzBody(f, "addSlot") }
func FuzzBookBody(f *testing.F)                 { fuzzBody(f, "book") }
func FuzzCreateEventBody(f *testing.F)          { fuzzBody(f, "createEvent") }
func FuzzReportPresenceBody(f *testing.F)       { fuzzBody(f, "reportPresence") }
func FuzzOpenClaimBody(f *testing.F)            { fuzzBody(f, "openClaim") }
func FuzzRespondClaimBody(f *testing.F)         { fuzzBody(f, "respondClaim") }
func FuzzDecideClaimBody(f *testing.F)          { fuzzBody(f, "decideClaim") }
func FuzzSetEventCapBody(f *testing.F)          { fuzzBody(f, "setEventCap") }
func FuzzUpdateSettingsBody(f *testing.F)       { fuzzBody(f, "updateSettings") }
func FuzzMoveSimClockBody(f *testing.F)         { fuzzBody(f, "moveSimClock") }
func FuzzUpdatePreferencesBody(f *testing.F)    { fuzzBody(f, "updatePreferences") }
func FuzzRequestPasswordResetBody(f *testing.F) { fuzzBody(f, "requestPasswordReset") }
func FuzzConfirmPasswordResetBody(f *testing.F) { fuzzBody(f, "confirmPasswordReset") }
func FuzzVerifyEmailBody(f *testing.F)          { fuzzBody(f, "verifyEmail") }
func FuzzChangeEmailBody(f *testing.F)          { fuzzBody(f, "changeEmail") }

func fuzzBody(f *testing.F, id string) {
	var rt route
	for _, r := range routes() {
		if r.ID == id {
			rt = r
		}
	}
	if rt.Body == nil {
		f.Fatalf("%s: no such operation with a request body", id)
	}
	e := newEnv(f)
	example := docExample(f, e, rt)
	f.Add(example)
	for _, seed := range bodyVariants(example) {
		f.Add(seed)
	}

	// The caller, and real objects for the path to name where one exists.
	ex := e.signUp(control.RoleExpert)
	cl := e.signUp(control.RoleClient)
	op := e.operator()
	sl := ex.slot(t0.Add(72*3600e9), 4000)
	bk := cl.book(sl.ID)
	var caller *user
	var hdr []string
	switch rt.Access {
	case public:
		caller = e.anon()
	case expert:
		caller = ex
	case client, signedIn:
		caller = cl
	case operator:
		caller = op
	case internal:
		caller, hdr = e.anon(), []string{"Authorization", "Bearer " + testSecret}
	default:
		f.Fatalf("%s: no caller for access %d", id, rt.Access)
	}
	path := rt.Path
	for _, p := range pathParams(rt.Path) {
		val := bk.ID
		if p == "ref" {
			val = ex.id
		}
		path = strings.Replace(path, ":"+p, val, 1)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t // the answers below are checked on this input's test
		h := hdr
		if rt.Idem {
			h = append(h[:len(h):len(h)], "Idempotency-Key", e.key())
		}
		before := storeDigest(t, e)
		r := caller.do(rt.Method, path, body, h...)
		if r.status >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.Method, path, body, r.status, r.body)
		}
		if r.status >= 400 {
			var eb ErrorBody
			if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%s %q: %d without a clear error: %s", id, body, r.status, r.body)
			}
			if after := storeDigest(t, e); after != before {
				t.Fatalf("%s %q: refused with %d %s, yet the store changed", id, body, r.status, eb.Error.Code)
			}
		}
	})
}

// docExample is the operation's example as the served OpenAPI document
// gives it.
func docExample(f *testing.F, e *env, rt route) []byte {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	e.anon().get("/openapi.json").want(http.StatusOK).decode(&doc)
	ex := doc.Paths[openAPIPath(rt.Path)][strings.ToLower(rt.Method)].RequestBody.Content["application/json"].Example
	if len(ex) == 0 {
		f.Fatalf("%s: the OpenAPI document has no request example", rt.ID)
	}
	return ex
}

// bodyVariants are seeds near the example: each field emptied, doubled in
// length, given the wrong type, plus the classic broken shapes.
func bodyVariants(example []byte) [][]byte {
	out := [][]byte{[]byte(`{}`), []byte(`null`), []byte(`[]`), []byte(``), []byte(`{"unknown":1}`), append(bytes.Clone(example), '}')}
	var obj map[string]json.RawMessage
	if json.Unmarshal(example, &obj) != nil {
		return out
	}
	for k, v := range obj {
		for _, nv := range []string{`null`, `""`, `-1`, `1e400`, `"9999-12-31T23:59:59Z"`, `[` + string(v) + `,` + string(v) + `]`,
			strconv.Quote(strings.Repeat("x", 300)), strings.Repeat(string(v), 2)} {
			m := make(map[string]json.RawMessage, len(obj))
			for k2, v2 := range obj {
				m[k2] = v2
			}
			m[k] = json.RawMessage(nv)
			if b, err := json.Marshal(m); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// storeDigest hashes every key and value of every bucket: equal digests
// mean no data changed in between. (A raw file copy would not do: a refusal
// may commit an empty transaction, which moves only the file's txid.)
func storeDigest(t *testing.T, e *env) [32]byte {
	h := sha256.New()
	err := e.db.View(func(tx control.Tx) error {
		for _, b := range control.Buckets() {
			h.Write([]byte("\x00bucket " + b + "\x00"))
			if err := tx.Scan(b, nil, nil, func(k, v []byte) error {
				h.Write([]byte(strconv.Itoa(len(k)) + ":" + strconv.Itoa(len(v)) + ":"))
				h.Write(k)
				h.Write(v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// TestFuzz_EveryRequestBodyHasAFuzzTargetAndAValidExample keeps the set of
// fuzz targets complete as operations are added, and each example valid.
func TestFuzz_EveryRequestBodyHasAFuzzTargetAndAValidExample(t *testing.T) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "fuzz_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fuzzed := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "fuzzBody" && len(c.Args) == 2 {
				if lit, ok := c.Args[1].(*ast.BasicLit); ok {
					name, _ := strconv.Unquote(lit.Value)
					fuzzed[name] = true
				}
			}
		}
		return true
	})
	examples := requestExamples()
	var d decoder
	for _, rt := range routes() {
		if rt.Body == nil {
			continue
		}
		if !fuzzed[rt.ID] {
			t.Errorf("%s decodes a request body but has no fuzz target", rt.ID)
		}
		ex, ok := examples[rt.ID]
		if !ok {
			t.Errorf("%s has no request example", rt.ID)
			continue
		}
		b, _ := json.Marshal(ex)
		req, _ := http.NewRequest("POST", "/", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		dst := newOf(rt.Body)
		if err := d.body(req, dst); err != nil {
			t.Errorf("%s: the example %s does not decode: %v", rt.ID, b, err)
		}
	}
}

// newOf returns a pointer to a new zero value of v's type.
func newOf(v any) any { return reflect.New(reflect.TypeOf(v)).Interface() }
