package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"atlas11/control"
)

// The OpenAPI 3 document is built from the route table and the Go types the
// handlers decode and answer, so it describes exactly what is served.

type schema = map[string]any

// schemaBuilder turns Go types into JSON schemas under components/schemas.
type schemaBuilder struct {
	named map[string]schema
	seen  map[reflect.Type]string
}

func (b *schemaBuilder) of(t reflect.Type) schema {
	switch t {
	case timeType:
		return schema{"type": "string", "format": "date-time"}
	case reflect.TypeFor[time.Duration]():
		return schema{"type": "integer", "description": "nanoseconds"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := b.of(t.Elem())
		return schema{"allOf": []any{s}, "nullable": true}
	case reflect.String:
		if vals := enumOf(t); vals != nil {
			return schema{"type": "string", "enum": vals}
		}
		return schema{"type": "string"}
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint8, reflect.Uint32, reflect.Uint64:
		return schema{"type": "integer"}
	case reflect.Float64:
		return schema{"type": "number"}
	case reflect.Slice:
		return schema{"type": "array", "items": b.of(t.Elem()), "nullable": true}
	case reflect.Map:
		return schema{"type": "object", "additionalProperties": b.of(t.Elem())}
	case reflect.Struct:
		return b.ref(t)
	}
	panic(fmt.Sprintf("openapi: unsupported type %s", t))
}

// ref names a struct schema after its package and type, built once.
func (b *schemaBuilder) ref(t reflect.Type) schema {
	name, ok := b.seen[t]
	if !ok {
		pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
		name = t.Name()
		if pkg == "api" {
			name = strings.ToUpper(name[:1]) + name[1:]
		} else {
			name = strings.ToUpper(pkg[:1]) + pkg[1:] + name
		}
		b.seen[t] = name
		props, required := schema{}, []string{}
		for _, f := range reflect.VisibleFields(t) {
			if !f.IsExported() || f.Anonymous {
				continue
			}
			tag := f.Tag.Get("json")
			jname, opts, _ := strings.Cut(tag, ",")
			if jname == "-" {
				continue
			}
			if jname == "" {
				jname = f.Name
			}
			props[jname] = withLimits(b.of(f.Type), limitsOf(f))
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, jname)
			}
		}
		sort.Strings(required)
		s := schema{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		b.named[name] = s
	}
	return schema{"$ref": "#/components/schemas/" + name}
}

// withLimits publishes a field's limits (see limits) in its schema.
func withLimits(s schema, l limits) schema {
	if l.max == 0 && l.itemMax == 0 {
		return s
	}
	inner := s
	if all, ok := s["allOf"].([]any); ok { // a pointer: the limits belong to the value
		inner = all[0].(schema)
	}
	switch inner["type"] {
	case "string":
		inner["maxLength"] = l.max
	case "array":
		inner["maxItems"] = l.max
		if items, ok := inner["items"].(schema); ok && l.itemMax > 0 && items["type"] == "string" {
			items["maxLength"] = l.itemMax
		}
	}
	return s
}

// openAPIPath turns /bookings/:id into /bookings/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return Prefix + strings.Join(parts, "/")
}

func pathParams(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if strings.HasPrefix(s, ":") {
			out = append(out, s[1:])
		}
	}
	return out
}

func buildOpenAPI(rs []route) ([]byte, error) {
	b := &schemaBuilder{named: map[string]schema{}, seen: map[reflect.Type]string{}}
	examples := requestExamples()
	errRef := b.ref(reflect.TypeFor[ErrorBody]())
	paths := map[string]map[string]any{}
	for _, rt := range rs {
		op := map[string]any{"operationId": rt.ID, "summary": rt.Summary}
		var params []any
		for _, p := range pathParams(rt.Path) {
			params = append(params, schema{"name": p, "in": "path", "required": true, "schema": schema{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, schema{"name": q, "in": "query", "required": false,
				"schema": schema{"type": "string", "format": "date-time"}})
		}
		if rt.Idem {
			params = append(params, schema{"name": "Idempotency-Key", "in": "header", "required": true,
				"description": "a repeat with the same key returns the first answer and moves no money; the same key with a different request is refused (422 idempotency_key_reused)",
				"schema":      schema{"type": "string", "minLength": 1, "maxLength": 200}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		switch rt.Access {
		case public:
			op["security"] = []any{}
		case internal:
			op["security"] = []any{schema{"internalSecret": []any{}}}
		default:
			op["security"] = []any{schema{"session": []any{}}}
			if role := roleFor(rt.Access); role != "" {
				op["description"] = "Only for " + string(role) + "s."
			}
		}
		if rt.Body != nil {
			media := schema{"schema": b.of(reflect.TypeOf(rt.Body))}
			if ex, ok := examples[rt.ID]; ok {
				media["example"] = ex
			}
			op["requestBody"] = schema{"required": true, "content": schema{"application/json": media}}
		}
		ok := schema{"description": http.StatusText(rt.Status)}
		switch rt.Resp.(type) {
		case nil:
		case binaryBody:
			ok["content"] = schema{"application/octet-stream": schema{"schema": schema{"type": "string", "format": "binary"}}}
		case calendarBody:
			ok["content"] = schema{"text/calendar": schema{"schema": schema{"type": "string"}}}
		case openAPIBody:
			ok["content"] = schema{"application/json": schema{"schema": schema{"type": "object"}}}
		default:
			ok["content"] = schema{"application/json": schema{"schema": b.of(reflect.TypeOf(rt.Resp))}}
		}
		op["responses"] = schema{
			fmt.Sprint(rt.Status): ok,
			"default":             schema{"description": "Error", "content": schema{"application/json": schema{"schema": errRef}}},
		}
		p := openAPIPath(rt.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		m := strings.ToLower(rt.Method)
		if _, dup := paths[p][m]; dup {
			return nil, fmt.Errorf("openapi: duplicate route %s %s", rt.Method, p)
		}
		paths[p][m] = op
	}
	doc := schema{
		"openapi": "3.0.3",
		"info": schema{"title": "Atlas11 API", "version": "1",
			"description": "Atlas11 control plane. Every error has the shape {\"error\":{\"code\",\"message\",\"field\"}}."},
		"paths": paths,
		"components": schema{
			"schemas": b.named,
			"securitySchemes": schema{
				"session": schema{"type": "apiKey", "in": "cookie", "name": sessionCookie,
					"description": "named " + secureSessionCookie + " when the server runs with HTTPS or secure cookies"},
				"internalSecret": schema{"type": "http", "scheme": "bearer"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// enumOf lists the values of the domain's closed string types, so a
// response carrying an unknown status fails the document.
func enumOf(t reflect.Type) []any {
	switch t {
	case reflect.TypeFor[control.Role]():
		return []any{control.RoleClient, control.RoleExpert, control.RoleOperator}
	case reflect.TypeFor[control.MediaKind]():
		return []any{control.MediaVideo, control.MediaAudio, control.MediaChat}
	case reflect.TypeFor[control.BookingKind]():
		return []any{control.KindAppointment, control.KindRegistration}
	case reflect.TypeFor[control.BookingStatus]():
		return []any{control.StatusPendingPayment, control.StatusConfirmed, control.StatusCancelled,
			control.StatusCompleted, control.StatusPaymentFailed}
	case reflect.TypeFor[control.EventStatus]():
		return []any{control.EventScheduled, control.EventCancelled, control.EventCompleted}
	case reflect.TypeFor[control.ClaimStatus]():
		return []any{control.ClaimOpen, control.ClaimResponded, control.ClaimResolved, control.ClaimEscalated, control.ClaimDecided}
	case reflect.TypeFor[control.ResponseKind]():
		return []any{control.RespondFullRefund, control.RespondPartialRefund, control.RespondDecline}
	}
	return nil
}
