package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"atlas11/control"
)

// TestFields_EveryRequestStringAndListDeclaresItsMaximum keeps the class of
// "unbounded stored field" closed: every string and list any request body
// holds declares its maximum, and the OpenAPI document publishes it.
func TestFields_EveryRequestStringAndListDeclaresItsMaximum(t *testing.T) {
	doc, err := buildOpenAPI(routes())
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(t0 reflect.Type, path string)
	walk = func(st reflect.Type, path string) {
		for st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		if st.Kind() != reflect.Struct || st == timeType || seen[st] {
			return
		}
		seen[st] = true
		for _, f := range reflect.VisibleFields(st) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || f.Anonymous || name == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			l := limitsOf(f)
			switch ft.Kind() {
			case reflect.String:
				if l.max == 0 {
					t.Errorf("%s.%s (%s): a string without a max tag", path, name, st)
				}
			case reflect.Slice:
				if l.max == 0 || ft.Elem().Kind() == reflect.String && l.itemMax == 0 {
					t.Errorf("%s.%s (%s): a list without max and itemmax tags", path, name, st)
				}
			case reflect.Map:
				t.Errorf("%s.%s (%s): maps cannot be bounded by tag; use a struct", path, name, st)
			}
			walk(ft, path+"."+name)
		}
	}
	for _, rt := range routes() {
		if rt.Body != nil {
			walk(reflect.TypeOf(rt.Body), rt.ID)
		}
	}
	// Spot-check the document: a limit in a tag is a limit in the schema.
	prof := d.Components.Schemas["ControlProfileUpdate"].Properties
	if got := prof["languages"]["maxItems"]; got != float64(control.MaxLanguages) {
		t.Errorf("OpenAPI ProfileUpdate.languages maxItems = %v, want %d", got, control.MaxLanguages)
	}
	if got := d.Components.Schemas["ControlBillingDetails"].Properties["holder_name"]["maxLength"]; got != float64(control.MaxHolderNameLen) {
		t.Errorf("OpenAPI BillingDetails.holder_name maxLength = %v, want %d", got, control.MaxHolderNameLen)
	}
}

// TestFields_StoredStringsAndListsAreBoundedAndChecked replays what was
// found from outside: a 1 MB holder name, any IBAN, any country and 80,000
// languages were stored, then served to anonymous visitors. Each is now a
// clear 400 naming the field, and the profile is left as it was.
func TestFields_StoredStringsAndListsAreBoundedAndChecked(t *testing.T) {
	e := newEnv(t)
	ex := e.signUp(control.RoleExpert)
	good := map[string]any{"holder_name": "Claire Martin", "iban": "FR76 3000 6000 0112 3456 7890 189", "country": "fr"}
	var saved control.ExpertProfile
	ex.do("PATCH", "/me/profile", map[string]any{"billing": good, "languages": []string{"fr", "pt-br", "FR"}}).
		want(http.StatusOK).decode(&saved)
	if saved.Billing.IBAN != "FR7630006000011234567890189" || saved.Billing.Country != "FR" {
		t.Fatalf("billing stored as %+v, want the IBAN without spaces and the country in capitals", *saved.Billing)
	}
	if !slices.Equal(saved.Languages, []string{"fr", "pt-BR"}) {
		t.Fatalf("languages stored as %q, want canonical tags without duplicates [fr pt-BR]", saved.Languages)
	}
	before := string(ex.get("/me/profile").want(http.StatusOK).body)

	billing := func(k, v string) map[string]any {
		b := map[string]any{"holder_name": "Claire Martin", "iban": "FR7630006000011234567890189"}
		b[k] = v
		return map[string]any{"billing": b}
	}
	many := make([]string, 80000)
	for i := range many {
		many[i] = "fr"
	}
	for _, c := range []struct {
		name        string
		body        map[string]any
		code, field string
	}{
		{"huge holder name", billing("holder_name", strings.Repeat("A", 500_000)), "too_long", "billing.holder_name"},
		{"holder name over 70", billing("holder_name", strings.Repeat("é", 71)), "too_long", "billing.holder_name"},
		{"holder name with a control character", billing("holder_name", "Claire\x00Martin"), "invalid_text", "billing.holder_name"},
		{"IBAN that is not one", billing("iban", "y"), "invalid_iban", "billing.iban"},
		{"IBAN with a typo", billing("iban", "FR7630006000011234567890198"), "invalid_iban", "billing.iban"},
		{"IBAN of the wrong length", billing("iban", "FR76300060000112345678901"), "invalid_iban", "billing.iban"},
		{"IBAN of an unknown country", billing("iban", "ZZ7630006000011234567890189"), "invalid_iban", "billing.iban"},
		{"country as a name", billing("country", "France"), "too_long", "billing.country"},
		{"country that does not exist", billing("country", "ZZ"), "invalid_country", "billing.country"},
		{"80,000 languages", map[string]any{"languages": many}, "too_many", "languages"},
		{"a language as prose", map[string]any{"languages": []string{"français"}}, "invalid_language", "languages"},
		{"a language tag too long", map[string]any{"languages": []string{strings.Repeat("a", 36)}}, "too_long", "languages"},
		{"a headline with a line break", map[string]any{"headline": "one\ntwo"}, "invalid_text", "headline"},
		{"a headline over 200 characters", map[string]any{"headline": strings.Repeat("ü", 201)}, "too_long", "headline"},
		{"a bio over 10,000 characters", map[string]any{"bio": strings.Repeat("b", 10001)}, "too_long", "bio"},
	} {
		ex.do("PATCH", "/me/profile", c.body).wantErr(http.StatusBadRequest, c.code, c.field)
		if after := string(ex.get("/me/profile").want(http.StatusOK).body); after != before {
			t.Fatalf("%s: refused, yet the profile changed:\nbefore %s\nafter  %s", c.name, before, after)
		}
	}
	// Lengths count characters, not bytes: 200 accented letters are a valid
	// headline.
	ex.do("PATCH", "/me/profile", map[string]any{"headline": strings.Repeat("é", 200)}).want(http.StatusOK)

	// The other stored texts.
	cl := e.anon()
	cl.post("/auth/signup", map[string]any{"email": "long@atlas11.test", "password": "correct horse battery",
		"name": strings.Repeat("n", 201), "role": "client"}).wantErr(http.StatusBadRequest, "too_long", "name")
	cl.post("/auth/signup", map[string]any{"email": "ctl@atlas11.test", "password": "correct horse battery",
		"name": "Bad\u202eName", "role": "client"}).wantErr(http.StatusBadRequest, "invalid_text", "name")
	start := t0.Add(72 * time.Hour)
	ex.post("/events", map[string]any{"title": strings.Repeat("t", 201), "description": "", "start": start, "minutes": 60,
		"price_cents": 3000, "min_participants": 1, "max_participants": 5}).wantErr(http.StatusBadRequest, "too_long", "title")
	ex.post("/me/slots", map[string]any{"start": start, "minutes": 60, "price_cents": 3000,
		"media": []string{"video", "video"}}).wantErr(http.StatusBadRequest, "duplicate_media", "media")
	ex.post("/me/slots", map[string]any{"start": start, "minutes": 60, "price_cents": 3000,
		"media": []string{"video", "audio", "chat", "video"}}).wantErr(http.StatusBadRequest, "too_many", "media")
}

// TestFields_InstantsAreSane replays the year-9999 finding: times past it
// gave 500s, and a simulation clock set there made every sign-in fail. Only
// instants in [2000, 2200) are accepted anywhere, slots and events start at
// most two years ahead, and the platform keeps answering.
func TestFields_InstantsAreSane(t *testing.T) {
	e := newEnv(t)
	op := e.operator()
	ex := e.signUp(control.RoleExpert)
	slot := func(start string) *resp {
		return ex.post("/me/slots", `{"start":"`+start+`","minutes":60,"price_cents":3000,"media":["video"]}`)
	}
	slot(t0.Add(2*365*24*time.Hour+time.Hour).Format(time.RFC3339)).wantErr(http.StatusUnprocessableEntity, "too_far_ahead", "start")
	slot("9999-12-31T23:00:00Z").wantErr(http.StatusBadRequest, "invalid_time", "start")
	slot("1970-01-01T00:00:00Z").wantErr(http.StatusBadRequest, "invalid_time", "start")
	slot(t0.Add(700 * 24 * time.Hour).Format(time.RFC3339)).want(http.StatusCreated)
	ex.post("/events", map[string]any{"title": "Far", "description": "", "start": "9000-01-01T10:00:00Z", "minutes": 60,
		"price_cents": 3000, "min_participants": 1, "max_participants": 5}).wantErr(http.StatusBadRequest, "invalid_time", "start")
	ex.post("/events", map[string]any{"title": "Far", "description": "", "start": t0.AddDate(3, 0, 0), "minutes": 60,
		"price_cents": 3000, "min_participants": 1, "max_participants": 5}).wantErr(http.StatusUnprocessableEntity, "too_far_ahead", "start")
	e.anon().get("/experts/"+ex.id+"/slots?from=9999-01-01T00:00:00Z").wantErr(http.StatusBadRequest, "invalid_time", "from")

	op.post("/sim/clock", map[string]any{"set": "9999-12-31T00:00:00Z"}).wantErr(http.StatusBadRequest, "invalid_time", "set")
	op.post("/sim/clock", map[string]any{"advance": "2562047h"}).wantErr(http.StatusBadRequest, "invalid_time", "advance")
	if now := e.clock.Now(); !now.Equal(t0) {
		t.Fatalf("refused clock moves moved the clock to %s", now)
	}
	// The clock may go far, but not out of range, and signing in still works.
	op.post("/sim/clock", map[string]any{"set": "2199-06-01T00:00:00Z"}).want(http.StatusOK)
	u := e.anon()
	u.post("/auth/signin", map[string]any{"email": "ops@atlas11.test", "password": "operator password!"}).want(http.StatusOK)
	u.get("/me").want(http.StatusOK)
}

func TestFields_LanguageTags(t *testing.T) {
	for in, want := range map[string]string{"fr": "fr", "PT-br": "pt-BR", "zh-hant-tw": "zh-Hant-TW", "sr-Latn-RS": "sr-Latn-RS",
		"de-CH-1996": "de-CH-1996", "es-419": "es-419", "en-US-x-twain": "en-US-x-twain", "x-klingon": "x-klingon",
		"en-a-bbb-x-a-ccc": "en-a-bbb-x-a-ccc", "zh-yue": "zh-yue"} {
		got, err := control.NormalizeLanguages([]string{in})
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "français", "e", "en--us", "abcd", "en-US-", "123", "en-a", "x", "en-x", "en_US", "en-US-a-", "toolongxx", strings.Repeat("a-", 20) + "a"} {
		if got, err := control.NormalizeLanguages([]string{in}); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

func TestFields_IBANsAndCountries(t *testing.T) {
	for _, in := range []string{"DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "be68539007547034", "NL91ABNA0417164300",
		"CH9300762011623852957", "FR1420041010050500013M02606", "ES9121000418450200051332", "IT60X0542811101000000123456", "NO9386011117947"} {
		if _, err := control.NormalizeIBAN(in); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, in := range []string{"DE89 3704 0044 0532 0130 01", "DE8937040044053201300", "GB82-WEST-1234-5698-7654-32", "", "DE", "US12345678901234567890"} {
		if got, err := control.NormalizeIBAN(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
	for in, ok := range map[string]bool{"FR": true, "be": true, "XK": true, "UK": false, "EU": false, "ZZ": false, "F": false, "FRA": false} {
		if _, err := control.NormalizeCountry(in); (err == nil) != ok {
			t.Errorf("country %q: err %v, want ok=%v", in, err, ok)
		}
	}
}
