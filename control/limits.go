package control

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Maxima of every text and list the platform stores. They are part of the
// API contract (docs/rules.md lists them, the OpenAPI document carries them),
// so a change here is a change of the API. Lengths count characters (runes),
// not bytes, so that French text is not penalised for its accents.
const (
	MaxNameLen        = 200   // a user's display name
	MaxHeadlineLen    = 200   // an expert's headline
	MaxBioLen         = 10000 // an expert's biography
	MaxTitleLen       = 200   // an event's title
	MaxDescriptionLen = 10000 // an event's description
	MaxClaimTextLen   = 5000  // a claim's reason, an answer, a decision
	MaxHolderNameLen  = 70    // an account holder name (SEPA's limit)
	MaxLanguages      = 10    // languages an expert lists
	MaxLanguageTagLen = 35    // one BCP 47 tag (RFC 5646 §4.4.1)
	MaxMediaKinds     = 3     // video, audio, chat
	MaxEmailLen       = 254   // RFC 5321 path limit
	MaxKeyLen         = 200   // an Idempotency-Key
	MaxIDLen          = 100   // any identifier given as input
)

// MaxAhead is how far ahead a slot or an event may start: nobody books two
// years out, and an unbounded instant once broke every date computation.
const MaxAhead = 2 * 365 * 24 * time.Hour

// Every instant the platform accepts lies in [MinInstant, MaxInstant): far
// enough from year 9999 that adding session lifetimes, claim windows or
// MaxAhead never leaves the range JSON and RFC 3339 can represent.
var (
	MinInstant = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxInstant = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// SaneInstant reports whether t is within [MinInstant, MaxInstant).
func SaneInstant(t time.Time) bool {
	return !t.Before(MinInstant) && t.Before(MaxInstant)
}

// checkStart refuses a start instant that is not sane or lies more than
// MaxAhead after now.
func checkStart(field string, start, now time.Time) error {
	if !SaneInstant(start) {
		return fieldErr(field, "invalid_time", "the time must be between %d and %d", MinInstant.Year(), MaxInstant.Year()-1)
	}
	if start.After(now.Add(MaxAhead)) {
		return &Error{Kind: Rule, Code: "too_far_ahead", Field: field,
			Message: "the start can be at most two years ahead"}
	}
	return nil
}

// checkText refuses text that is not valid UTF-8, longer than max runes, or
// holds control characters (line breaks and tabs only when multiline): such
// characters make names and titles lie about what they say.
func checkText(field, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return fieldErr(field, "invalid_text", "the text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fieldErr(field, "too_long", "at most %d characters (got %d)", max, n)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || !multiline && bidiControl(r) {
			return fieldErr(field, "invalid_text", "the text holds a control character (U+%04X)", r)
		}
	}
	return nil
}

// bidiControl reports the explicit direction overrides and isolates: in a
// name or a title they can make the text display as something else.
func bidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069'
}

// NormalizeIBAN returns iban without spaces in upper case once it passes
// ISO 13616: a known country, that country's length, letters and digits
// only, and the mod-97 check digits.
func NormalizeIBAN(iban string) (string, error) {
	s := strings.ToUpper(strings.Join(strings.Fields(iban), ""))
	bad := func(format string, args ...any) (string, error) {
		return "", fieldErr("billing.iban", "invalid_iban", format, args...)
	}
	if len(s) < 4 {
		return bad("an IBAN starts with a country code and two check digits")
	}
	want, ok := ibanLengths[s[:2]]
	if !ok {
		return bad("IBANs are not issued for country code %q", s[:2])
	}
	if len(s) != want {
		return bad("an IBAN of %s has %d characters, not %d", s[:2], want, len(s))
	}
	// Move the first four characters to the end, letters become 10..35,
	// and the number mod 97 must be 1; computed digit by digit.
	rem := 0
	for _, c := range s[4:] + s[:4] {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return bad("an IBAN holds only letters and digits")
		}
	}
	if rem != 1 {
		return bad("the IBAN's check digits do not match: check for a typing mistake")
	}
	return s, nil
}

// NormalizeCountry returns c in upper case if it is an ISO 3166-1 alpha-2
// code.
func NormalizeCountry(c string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(c))
	if len(u) == 2 && strings.Contains(iso3166, " "+u+" ") {
		return u, nil
	}
	return "", fieldErr("billing.country", "invalid_country", "a country is an ISO 3166-1 two-letter code such as FR or BE")
}

// NormalizeLanguages returns tags in canonical case, without duplicates,
// once each is a well-formed BCP 47 language tag (RFC 5646 §2.1; irregular
// grandfathered tags are refused).
func NormalizeLanguages(tags []string) ([]string, error) {
	if len(tags) > MaxLanguages {
		return nil, fieldErr("languages", "too_many", "at most %d languages", MaxLanguages)
	}
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		c, ok := canonicalTag(strings.TrimSpace(t))
		if !ok {
			return nil, fieldErr("languages", "invalid_language", "%q is not a language tag such as fr, en or pt-BR", truncate(t, 40))
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// canonicalTag checks a tag's subtag sequence and fixes its case: language
// lower, script title, region upper, everything else lower.
func canonicalTag(tag string) (string, bool) {
	if tag == "" || len(tag) > MaxLanguageTagLen {
		return "", false
	}
	parts := strings.Split(strings.ToLower(tag), "-")
	for _, p := range parts {
		if p == "" || len(p) > 8 || !isAlnum(p) {
			return "", false
		}
	}
	i := 0
	if parts[0] == "x" { // private use only
		return privateUse(parts)
	}
	lang := parts[0]
	if !isAlpha(lang) || len(lang) < 2 || len(lang) == 4 { // 4 letters is reserved
		return "", false
	}
	i++
	if len(lang) <= 3 { // up to three extlang subtags
		for n := 0; n < 3 && i < len(parts) && len(parts[i]) == 3 && isAlpha(parts[i]); n++ {
			i++
		}
	}
	if i < len(parts) && len(parts[i]) == 4 && isAlpha(parts[i]) { // script
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		i++
	}
	if i < len(parts) && (len(parts[i]) == 2 && isAlpha(parts[i]) || len(parts[i]) == 3 && isDigits(parts[i])) { // region
		parts[i] = strings.ToUpper(parts[i])
		i++
	}
	for i < len(parts) && isVariant(parts[i]) {
		i++
	}
	for i < len(parts) && len(parts[i]) == 1 && parts[i] != "x" { // extensions
		i++
		n := 0
		for i < len(parts) && len(parts[i]) >= 2 {
			i, n = i+1, n+1
		}
		if n == 0 {
			return "", false
		}
	}
	if i < len(parts) && parts[i] == "x" {
		if _, ok := privateUse(parts[i:]); !ok {
			return "", false
		}
		i = len(parts)
	}
	if i != len(parts) {
		return "", false
	}
	return strings.Join(parts, "-"), true
}

func privateUse(parts []string) (string, bool) {
	if len(parts) < 2 {
		return "", false
	}
	return strings.Join(parts, "-"), true
}

func isVariant(p string) bool {
	return len(p) >= 5 || len(p) == 4 && p[0] >= '0' && p[0] <= '9'
}

func isAlpha(s string) bool {
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// checkBilling validates and normalises billing details (PAY-6).
func checkBilling(b BillingDetails) (BillingDetails, error) {
	b.HolderName = strings.TrimSpace(b.HolderName)
	if b.HolderName == "" || strings.TrimSpace(b.IBAN) == "" {
		return b, fieldErr("billing", "invalid_billing", "holder name and IBAN are required")
	}
	if err := checkText("billing.holder_name", b.HolderName, MaxHolderNameLen, false); err != nil {
		return b, err
	}
	iban, err := NormalizeIBAN(b.IBAN)
	if err != nil {
		return b, err
	}
	b.IBAN = iban
	if b.Country != "" {
		if b.Country, err = NormalizeCountry(b.Country); err != nil {
			return b, err
		}
	}
	return b, nil
}

// ibanLengths is the IBAN length of each country that issues IBANs (SWIFT's
// IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	"YE": 30,
}

// iso3166 lists the officially assigned ISO 3166-1 alpha-2 codes, plus XK
// (Kosovo), which banks and the IBAN registry use.
const iso3166 = " AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ" +
	" BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ" +
	" CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ" +
	" DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR" +
	" GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY" +
	" HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP" +
	" KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY" +
	" MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ" +
	" NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY" +
	" QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ" +
	" TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ" +
	" VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW "
