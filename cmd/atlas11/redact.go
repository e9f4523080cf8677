package main

import "reflect"

// redactedText replaces a secret in what atlas11 prints about its config.
const redactedText = "<redacted>"

// redacted returns a copy of cfg with every field tagged `redact:"true"`
// (secrets, keys, tokens) replaced, for `config check`: its output is pasted
// into tickets and chats. A test makes sure every secret-looking field
// carries the tag.
func redacted(cfg Config) Config {
	v := reflect.ValueOf(&cfg).Elem()
	redactValue(v)
	return cfg
}

func redactValue(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Tag.Get("redact") != "true" {
			redactValue(fv)
			continue
		}
		switch fv.Kind() {
		case reflect.String:
			if fv.Len() > 0 {
				fv.SetString(redactedText)
			}
		case reflect.Slice:
			// A new slice: the caller's config keeps its secrets.
			out := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
			for j := range fv.Len() {
				out.Index(j).SetString(redactedText)
			}
			fv.Set(out)
		}
	}
}
