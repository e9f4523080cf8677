package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"atlas11/control"
)

func TestErrors_OneKindToStatusTable(t *testing.T) {
	cases := map[control.Kind]int{
		control.Invalid: 400, control.Unauthorized: 401, control.Forbidden: 403, control.NotFound: 404,
		control.Conflict: 409, control.Rule: 422, control.RateLimited: 429, control.Internal: 500,
		kindTooLarge: 413, kindUnsupportedMedia: 415, kindMethodNotAllowed: 405, "no_such_kind": 500,
	}
	for k, want := range cases {
		if got := statusFor(&control.Error{Kind: k, Code: "x"}); got != want {
			t.Errorf("kind %q: status %d, want %d", k, got, want)
		}
	}
	if got := statusFor(bytes.ErrTooLarge); got != 500 {
		t.Errorf("a plain error must be a 500, got %d", got)
	}
}

type decodeTarget struct {
	Name     string             `json:"name"`
	Price    int64              `json:"price_cents"`
	Count    int                `json:"count"`
	At       time.Time          `json:"at"`
	TimeZone string             `json:"time_zone"`
	Nested   *control.MinPrices `json:"nested"`
	List     []string           `json:"list"`
}

func decodeString(body string, ct string) (decodeTarget, error) {
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	var d decodeTarget
	err := decodeBody(req, &d)
	return d, err
}

func TestDecode_StrictJSONNamesTheField(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", maxBody) + `"}`
	cases := []struct {
		name, body, ct string
		status         int
		code, field    string
	}{
		{"malformed", `{"name":`, "application/json", 400, "malformed_json", ""},
		{"not an object", `[1,2]`, "application/json", 400, "invalid_body", ""},
		{"null body", `null`, "application/json", 400, "body_required", ""},
		{"empty body", ``, "application/json", 400, "body_required", ""},
		{"trailing data", `{"name":"a"} {"name":"b"}`, "application/json", 400, "trailing_data", ""},
		{"trailing garbage", `{"name":"a"}x`, "application/json", 400, "trailing_data", ""},
		{"unknown field", `{"name":"a","admin":true}`, "application/json", 400, "unknown_field", "admin"},
		{"unknown nested field", `{"nested":{"video":1,"gold":2}}`, "application/json", 400, "unknown_field", "nested.gold"},
		{"wrong type", `{"count":"3"}`, "application/json", 400, "invalid_value", "count"},
		{"wrong nested type", `{"nested":{"video":"x"}}`, "application/json", 400, "invalid_value", "nested.video"},
		{"overflowing amount", `{"price_cents":99999999999999999999999}`, "application/json", 400, "invalid_value", "price_cents"},
		{"fractional amount", `{"price_cents":10.5}`, "application/json", 400, "invalid_value", "price_cents"},
		{"negative amount", `{"price_cents":-1}`, "application/json", 400, "negative_amount", "price_cents"},
		{"negative count", `{"count":-1}`, "application/json", 400, "negative_value", "count"},
		{"bad time", `{"at":"tomorrow"}`, "application/json", 400, "invalid_value", "at"},
		{"unknown zone", `{"time_zone":"Mars/Olympus"}`, "application/json", 400, "unknown_time_zone", "time_zone"},
		{"Local zone", `{"time_zone":"Local"}`, "application/json", 400, "unknown_time_zone", "time_zone"},
		{"form body", `name=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"over 1 MiB", big, "application/json", 413, "body_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeString(c.body, c.ct)
			if err == nil {
				t.Fatal("accepted")
			}
			if statusFor(err) != c.status || control.ErrorCode(err) != c.code || control.ErrorField(err) != c.field {
				t.Fatalf("got %d %s field %q (%v), want %d %s field %q", statusFor(err), control.ErrorCode(err),
					control.ErrorField(err), err, c.status, c.code, c.field)
			}
		})
	}
	d, err := decodeString(`{"name":"a","price_cents":1500,"count":2,"at":"2026-03-02T10:00:00+01:00",
		"time_zone":"Europe/Paris","nested":{"video":1},"list":["x"]}`, "application/json; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "a" || d.Price != 1500 || d.Count != 2 || !d.At.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) ||
		d.Nested == nil || d.Nested.Video != 1 || len(d.List) != 1 {
		t.Fatalf("decoded %+v", d)
	}
}

func TestPassword_Argon2idPHCRoundTrip(t *testing.T) {
	p := defaultArgon()
	h := hashPassword(p, "correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", h)
	}
	if h2 := hashPassword(p, "correct horse battery"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if ok, err := verifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := verifyPassword(h, "correct horse batterY"); ok {
		t.Fatal("wrong password accepted")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA"} {
		if ok, err := verifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

func TestLimiter_TakesDrainRefundsReturnThenClockRefills(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(func() time.Time { return now }, 3, time.Minute)
	for i := range 3 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	ok, wait := l.Take("a")
	if ok || wait <= 0 || wait > time.Minute {
		t.Fatalf("after 3 takes: ok=%v wait=%v", ok, wait)
	}
	l.Refund("a") // a success gives its token back
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("a refunded token cannot be taken")
	}
	if ok, _ := l.Take("b"); !ok {
		t.Fatal("another key is limited too")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("one interval later the key is still refused")
	}
	for range 10 {
		l.Refund("b") // never above the burst
	}
	for range 3 {
		l.Take("b")
	}
	if ok, _ := l.Take("b"); ok {
		t.Fatal("refunds raised the bucket above its burst")
	}
	// takeAll takes from all or from none.
	x, y := newLimiter(func() time.Time { return now }, 1, time.Minute), newLimiter(func() time.Time { return now }, 1, time.Minute)
	y.Take("k")
	if ok, _ := takeAll([]*limiter{x, y}, []string{"k", "k"}); ok {
		t.Fatal("takeAll passed with one limiter empty")
	}
	if ok, _ := x.Take("k"); !ok {
		t.Fatal("a refused takeAll kept the first limiter's token")
	}
	l.maxKeys = 1
	now = now.Add(time.Hour)
	l.Take("c") // "a" has refilled: pruned to keep memory bounded
	if _, ok := l.buckets["a"]; ok {
		t.Fatal("a full bucket was not pruned")
	}
}

func TestOpenAPI_DocumentListsEveryRouteAndNoOther(t *testing.T) {
	e := newEnv(t)
	doc := map[string]bool{}
	for _, o := range e.doc.ops {
		doc[o.method+" "+o.template] = true
	}
	served := map[string]bool{}
	for _, r := range e.api.engine().Routes() {
		served[r.Method+" "+openAPIPath(strings.TrimPrefix(r.Path, Prefix))] = true
	}
	for k := range served {
		if !doc[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
	for k := range doc {
		if !served[k] {
			t.Errorf("documented but not served: %s", k)
		}
	}
	if len(served) < 40 {
		t.Fatalf("only %d routes", len(served))
	}
	// The document served is the one checked, and it is valid JSON.
	r := e.anon().get("/openapi.json").want(http.StatusOK)
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil || v["openapi"] != "3.0.3" {
		t.Fatalf("openapi.json: %v %v", err, v["openapi"])
	}
	// Every component schema the document refers to exists.
	if err := e.doc.validate(map[string]any{"$ref": "#/components/schemas/ErrorBody"}, map[string]any{
		"error": map[string]any{"code": "x", "message": "y"}}, "$"); err != nil {
		t.Fatal(err)
	}
}

func TestErrors_UnknownRouteAndMethodUseTheShape(t *testing.T) {
	e := newEnv(t)
	u := e.anon()
	u.get("/nope").wantErr(http.StatusNotFound, "route_not_found")
	u.do("DELETE", "/me", nil).wantErr(http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestNew_RequiresService(t *testing.T) {
	if _, err := New(Deps{}); err == nil {
		t.Fatal("New without a service succeeded")
	}
}

// TestOpenAPI_RefsResolveAndPathParamsDeclared checks the document's
// internal consistency: every $ref names a schema, every {param} of a path
// is declared, every operation has an error response.
func TestOpenAPI_RefsResolveAndPathParamsDeclared(t *testing.T) {
	b, err := buildOpenAPI(routes())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseDoc(b)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, ok := doc.comps[strings.TrimPrefix(ref, "#/components/schemas/")]; !ok {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc.raw)
	for _, o := range doc.ops {
		declared := map[string]bool{}
		params, _ := o.op["parameters"].([]any)
		for _, p := range params {
			pm := p.(map[string]any)
			if pm["in"] == "path" {
				declared[pm["name"].(string)] = true
			}
		}
		for _, seg := range strings.Split(o.template, "/") {
			if strings.HasPrefix(seg, "{") && !declared[strings.Trim(seg, "{}")] {
				t.Errorf("%s %s: path parameter %s not declared", o.method, o.template, seg)
			}
		}
		if _, ok := o.op["responses"].(map[string]any)["default"]; !ok {
			t.Errorf("%s %s: no error response", o.method, o.template)
		}
		if o.op["operationId"] == "" {
			t.Errorf("%s %s: no operationId", o.method, o.template)
		}
	}
}
