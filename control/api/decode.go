package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"atlas11/control"
)

// maxBody is the largest request body accepted.
const maxBody = 1 << 20

var (
	timeType        = reflect.TypeFor[time.Time]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// decoder decodes request bodies; it remembers each struct type's JSON
// field names, which reflection would otherwise rebuild on every request.
type decoder struct {
	fields sync.Map // reflect.Type -> map[string]fieldInfo, never modified once stored
}

// fieldInfo is what the decoder needs of one struct field.
type fieldInfo struct {
	index []int
	limits
}

// limits bound one request field: every string and list of a request body
// declares them in its struct tag, `max:"N"` (characters of a string, items
// of a list) and `itemmax:"N"` (characters of each string of a list). The
// OpenAPI document publishes the same numbers as maxLength and maxItems.
type limits struct{ max, itemMax int }

// Bounds for a field that declares none, so that no input is unbounded
// (a test requires every request field to declare its own).
const (
	defaultMaxLen   = 10000
	defaultMaxItems = 100
)

func limitsOf(f reflect.StructField) limits {
	var l limits
	l.max, _ = strconv.Atoi(f.Tag.Get("max"))
	l.itemMax, _ = strconv.Atoi(f.Tag.Get("itemmax"))
	return l
}

// check enforces the limits on a decoded value.
func (l limits) check(v reflect.Value, path string) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		max := cmp.Or(l.max, defaultMaxLen)
		if n := utf8.RuneCountInString(v.String()); n > max {
			return apiErr(control.Invalid, "too_long", path, fmt.Sprintf("%s: at most %d characters (got %d)", path, max, n))
		}
	case reflect.Slice:
		max := cmp.Or(l.max, defaultMaxItems)
		if v.Len() > max {
			return apiErr(control.Invalid, "too_many", path, fmt.Sprintf("%s: at most %d items (got %d)", path, max, v.Len()))
		}
		if v.Type().Elem().Kind() == reflect.String {
			item := limits{max: cmp.Or(l.itemMax, defaultMaxLen)}
			for i := range v.Len() {
				if err := item.check(v.Index(i), path); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decodeBody decodes with a fresh decoder.
func decodeBody(r *http.Request, dst any) error { return new(decoder).body(r, dst) }

// body reads a JSON object into dst (a pointer to a struct) strictly:
// JSON content type, at most maxBody bytes, one value and nothing after it,
// no unknown field at any depth, every value of the right type. Errors name
// the offending field. Amount fields (*_cents) must not be negative and time
// zone fields must be known IANA zones, so such mistakes never reach storage.
func (d *decoder) body(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apiErr(kindUnsupportedMedia, "unsupported_media_type", "", "the request body must be JSON (Content-Type: application/json)")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apiErr(kindTooLarge, "body_too_large", "", fmt.Sprintf("the request body exceeds %d bytes", maxBody))
		}
		return apiErr(control.Invalid, "body_unreadable", "", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apiErr(control.Invalid, "body_required", "", "a JSON object is required")
	}
	raw := json.RawMessage(body)
	if !json.Valid(body) { // one pass tells the common case, the slow one names the fault
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&raw); err != nil {
			return apiErr(control.Invalid, "malformed_json", "", "the body is not valid JSON: "+syntaxDetail(err))
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return apiErr(control.Invalid, "trailing_data", "", "the body must hold exactly one JSON value")
		}
	}
	v := reflect.ValueOf(dst).Elem()
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return apiErr(control.Invalid, "body_required", "", "a JSON object is required")
	}
	return d.value(raw, v, "")
}

func syntaxDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// isPlainStruct reports whether t is decoded field by field here (rather
// than by encoding/json, which cannot name the field of a failing value).
func isPlainStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != timeType && !reflect.PointerTo(t).Implements(unmarshalerType)
}

func (d *decoder) value(raw json.RawMessage, v reflect.Value, path string) error {
	t := v.Type()
	switch {
	case isPlainStruct(t):
		return d.object(raw, v, path)
	case t.Kind() == reflect.Pointer && isPlainStruct(t.Elem()):
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			v.Set(reflect.Zero(t))
			return nil
		}
		p := reflect.New(t.Elem())
		if err := d.object(raw, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		return apiErr(control.Invalid, "invalid_value", path, fmt.Sprintf("%s: expected %s", path, describe(t)))
	}
	return checkValue(v, path)
}

func (d *decoder) object(raw json.RawMessage, v reflect.Value, path string) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		field := path
		if field == "" {
			return apiErr(control.Invalid, "invalid_body", "", "the body must be a JSON object")
		}
		return apiErr(control.Invalid, "invalid_value", field, field+": expected an object")
	}
	fields := d.jsonFields(v.Type())
	for key, val := range obj {
		idx, ok := fields[key]
		name := key
		if path != "" {
			name = path + "." + key
		}
		if !ok {
			return apiErr(control.Invalid, "unknown_field", name, fmt.Sprintf("unknown field %q", name))
		}
		fv := v.FieldByIndex(idx.index)
		if err := d.value(val, fv, name); err != nil {
			return err
		}
		if err := idx.check(fv, name); err != nil {
			return err
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's exported fields to their index and
// limits.
func (d *decoder) jsonFields(t reflect.Type) map[string]fieldInfo {
	if m, ok := d.fields.Load(t); ok {
		return m.(map[string]fieldInfo)
	}
	out := make(map[string]fieldInfo, t.NumField())
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = fieldInfo{index: f.Index, limits: limitsOf(f)}
	}
	d.fields.Store(t, out)
	return out
}

// checkValue holds the field rules every request shares.
func checkValue(v reflect.Value, path string) error {
	leaf := path[strings.LastIndex(path, ".")+1:]
	switch {
	case v.Kind() == reflect.Int64 && strings.HasSuffix(leaf, "_cents") && v.Int() < 0:
		return apiErr(control.Invalid, "negative_amount", path, path+": an amount cannot be negative")
	case v.Kind() == reflect.Int && v.Int() < 0:
		return apiErr(control.Invalid, "negative_value", path, path+": cannot be negative")
	case v.Kind() == reflect.String && leaf == "time_zone" && v.String() != "":
		if !validZone(v.String()) {
			return apiErr(control.Invalid, "unknown_time_zone", path, fmt.Sprintf("%s: unknown IANA time zone %q", path, v.String()))
		}
	case v.Type() == timeType && !control.SaneInstant(v.Interface().(time.Time)):
		return apiErr(control.Invalid, "invalid_time", path, fmt.Sprintf("%s: the time must be between %d and %d",
			path, control.MinInstant.Year(), control.MaxInstant.Year()-1))
	case v.Kind() == reflect.Pointer && !v.IsNil():
		return checkValue(v.Elem(), path)
	}
	return nil
}

// validZone accepts IANA names only ("Local" names the server's zone).
func validZone(name string) bool {
	if name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

func describe(t reflect.Type) string {
	switch {
	case t == timeType:
		return "an RFC 3339 time such as 2026-01-02T15:04:05Z"
	case t.Kind() == reflect.Pointer:
		return describe(t.Elem())
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer in range"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(describe(t.Elem()), "a ")
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}
