package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// A small JSON-schema subset validator for the constructs buildOpenAPI
// emits: $ref, allOf, type, nullable, properties, required,
// additionalProperties, items, format date-time.

type apiDoc struct {
	raw   map[string]any
	ops   []docOp
	comps map[string]any
}

type docOp struct {
	method, template string
	re               *regexp.Regexp
	op               map[string]any
}

func parseDoc(b []byte) (*apiDoc, error) {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	d := &apiDoc{raw: raw, comps: raw["components"].(map[string]any)["schemas"].(map[string]any)}
	for p, item := range raw["paths"].(map[string]any) {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`) + "$")
		for m, op := range item.(map[string]any) {
			d.ops = append(d.ops, docOp{method: strings.ToUpper(m), template: p, re: re, op: op.(map[string]any)})
		}
	}
	// Literal segments win over parameters, as in the router.
	slices.SortFunc(d.ops, func(a, b docOp) int { return strings.Count(a.template, "{") - strings.Count(b.template, "{") })
	return d, nil
}

func (d *apiDoc) find(method, path string) (docOp, bool) {
	for _, o := range d.ops {
		if o.method == method && o.re.MatchString(path) {
			return o, true
		}
	}
	return docOp{}, false
}

// responseSchema is the schema for a status: the exact status or default.
func (o docOp) responseSchema(status int) (map[string]any, string, bool) {
	rs := o.op["responses"].(map[string]any)
	r, ok := rs[fmt.Sprint(status)]
	if !ok {
		r = rs["default"]
	}
	content, ok := r.(map[string]any)["content"].(map[string]any)
	if !ok {
		return nil, "", false
	}
	for ct, c := range content {
		return c.(map[string]any)["schema"].(map[string]any), ct, true
	}
	return nil, "", false
}

func (d *apiDoc) validate(s map[string]any, v any, path string) error {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		target, ok := d.comps[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: unknown schema %s", path, ref)
		}
		return d.validate(target, v, path)
	}
	if v == nil {
		if s["nullable"] == true {
			return nil
		}
		return fmt.Errorf("%s: null is not allowed", path)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := d.validate(sub.(map[string]any), v, path); err != nil {
				return err
			}
		}
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "":
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want object, got %T", path, v)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: missing required property %q", path, r)
			}
		}
		for k, val := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				if err := d.validate(ps, val, path+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q is not in the schema", path, k)
				}
			case map[string]any:
				if err := d.validate(ap, val, path+"."+k); err != nil {
					return err
				}
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want array, got %T", path, v)
		}
		for i, it := range arr {
			if err := d.validate(s["items"].(map[string]any), it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want string, got %T", path, v)
		}
		if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, any(str)) {
			return fmt.Errorf("%s: %q is not one of %v", path, str, enum)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", path, str)
			}
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return fmt.Errorf("%s: want integer, got %v", path, v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: want number, got %T", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want boolean, got %T", path, v)
		}
	default:
		return fmt.Errorf("%s: validator does not know type %q", path, typ)
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	if arr, ok := v.([]any); ok {
		for _, s := range arr {
			out = append(out, s.(string))
		}
	}
	return out
}
