package web

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func loadDict(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(FS(), "i18n/"+lang+".json")
	if err != nil {
		t.Fatalf("read %s dictionary: %v", lang, err)
	}
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("parse %s dictionary: %v", lang, err)
	}
	return d
}

var placeholder = regexp.MustCompile(`\{\w+\}`)

// LANG-1: French and English say the same things: same keys, no empty
// string, the same {placeholders} in both.
func TestI18n_LANG1_DictionariesMatch(t *testing.T) {
	fr, en := loadDict(t, "fr"), loadDict(t, "en")
	for k, v := range fr {
		w, ok := en[k]
		if !ok {
			t.Errorf("key %q is in fr.json but not in en.json", k)
			continue
		}
		if strings.TrimSpace(v) == "" || strings.TrimSpace(w) == "" {
			t.Errorf("key %q has an empty translation", k)
		}
		pf, pe := placeholder.FindAllString(v, -1), placeholder.FindAllString(w, -1)
		slices.Sort(pf)
		slices.Sort(pe)
		if !slices.Equal(pf, pe) {
			t.Errorf("key %q: placeholders differ: fr %v, en %v", k, pf, pe)
		}
	}
	for k := range en {
		if _, ok := fr[k]; !ok {
			t.Errorf("key %q is in en.json but not in fr.json", k)
		}
	}
}

var (
	staticKey  = regexp.MustCompile(`\bt\('([^']+)'`)
	dynamicKey = regexp.MustCompile("\\bt\\(`([^`]+)`")
	// Enumerations the screens turn into keys (status.<kind>.<value>, ...):
	// the values the API sends, from control/model.go.
	enumerated = map[string][]string{
		"media":               {"video", "audio", "chat"},
		"status.appointment":  {"pending_payment", "confirmed", "cancelled", "completed", "payment_failed"},
		"status.registration": {"pending_payment", "confirmed", "cancelled", "completed", "payment_failed"},
		"status.event":        {"scheduled", "cancelled", "completed"},
		"status.claim":        {"open", "responded", "resolved", "escalated", "decided"},
		"claim.kind":          {"full_refund", "partial_refund", "decline"},
		"claim.response":      {"full_refund", "partial_refund", "decline"},
		"activity.type":       {"appointment", "registration", "event", "claim", "payout"},
		"call.role":           {"host", "guest"},
		"call.quality":        {"unknown", "good", "fair", "poor"},
		"call.media":          {"video", "audio", "chat"},
		"call.refused":        {"room_not_open", "not_allowed", "room_full", "account_closed", "token_expired", "token_invalid", "replaced", "other"},
		"lang":                {"fr", "en"},
		"op.settings.min":     {"video", "audio", "chat", "event"},
		"auth.role":           {"client", "expert"},
		"earn":                {"escrow", "pending", "payable", "paid"},
		"call.audio":          {"on", "off"},
		"call.video":          {"on", "off"},
		"activity":            {"join", "cancel", "respond", "accept", "reject", "decide", "view"},
		"err":                 {"network", "slot_taken", "email_taken", "invalid_credentials", "too_many_attempts", "payment_declined", "claim_window_closed"},
		"cancel":              {"refund", "charge"},
	}
)

// LANG-1: every string a screen shows comes from the dictionary: each key
// the code asks for exists, so no screen ever shows a raw key.
func TestI18n_LANG1_EveryKeyUsedExists(t *testing.T) {
	fr := loadDict(t, "fr")
	used := 0
	err := fs.WalkDir(FS(), "js", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		b, err := fs.ReadFile(FS(), path)
		if err != nil {
			return err
		}
		for _, m := range staticKey.FindAllStringSubmatch(string(b), -1) {
			used++
			if _, ok := fr[m[1]]; !ok {
				t.Errorf("%s asks for missing key %q", path, m[1])
			}
		}
		for _, m := range dynamicKey.FindAllStringSubmatch(string(b), -1) {
			prefix := m[1][:strings.Index(m[1], "${")]
			if !hasPrefix(fr, prefix) {
				t.Errorf("%s builds keys %q but the dictionary has none starting with %q", path, m[1], prefix)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if used < 100 {
		t.Fatalf("found only %d dictionary lookups: the scan is broken", used)
	}
	for prefix, values := range enumerated {
		for _, v := range values {
			if _, ok := fr[prefix+"."+v]; !ok {
				t.Errorf("missing key %q", prefix+"."+v)
			}
		}
	}
}

func hasPrefix(d map[string]string, p string) bool {
	for k := range d {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// The app must load nothing from outside the binary: no CDN, no external
// font, so it works on a network with no internet.
func TestStatic_NoExternalResources(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import\s+url\(\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|from\s+['"]https?://|import\(\s*['"]https?://`)
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".html"), strings.HasSuffix(path, ".css"), strings.HasSuffix(path, ".js"):
		default:
			return nil
		}
		b, err := fs.ReadFile(FS(), path)
		if err != nil {
			return err
		}
		if loc := external.FindIndex(b); loc != nil {
			t.Errorf("%s loads an external resource: %q", path, b[loc[0]:min(loc[1]+40, len(b))])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
