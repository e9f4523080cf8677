package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// `atlas11 config check` prints the effective config without one secret,
// whether it came from the file or the environment.
func TestConfigCheck_RedactsEverySecret(t *testing.T) {
	secrets := map[string]string{
		"call":     "call-token-secret-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"internal": "internal-secret-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
		"turn":     "turn-secret-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
		"prev1":    "previous-turn-secret-DDDDDDDDDDDDDDDDDDDDDDDDDD",
		"prev2":    "previous-turn-secret-EEEEEEEEEEEEEEEEEEEEEEEEEE",
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	text := "secrets:\n  call_token: " + secrets["call"] + "\n" +
		"turn:\n  secret: " + secrets["turn"] + "\n  previous_secrets: [" + secrets["prev1"] + ", " + secrets["prev2"] + "]\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "ATLAS11_INTERNAL_SECRET" {
			return secrets["internal"]
		}
		return ""
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"config", "check", "--config", file}, env, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for name, s := range secrets {
		if strings.Contains(out.String(), s) || strings.Contains(out.String(), s[len(s)-12:]) {
			t.Errorf("config check prints the %s secret", name)
		}
	}
	if n := strings.Count(out.String(), redactedText); n != len(secrets) {
		t.Errorf("%d redacted values, want %d:\n%s", n, len(secrets), out.String())
	}
	// Unset secrets stay visibly empty: the operator sees they are generated.
	var plain strings.Builder
	if err := run(context.Background(), []string{"config", "check"}, noEnv, strings.NewReader(""), &plain, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), redactedText) {
		t.Errorf("empty secrets printed as redacted:\n%s", plain.String())
	}
}

// Every config field that looks like a secret must be tagged for redaction,
// so a secret added later cannot be printed by mistake.
func TestConfig_EverySecretFieldIsRedacted(t *testing.T) {
	looksSecret := regexp.MustCompile(`(?i)secret|password|passphrase|token|credential|private|hmac|api_key|eab`)
	var walk func(reflect.Type, string)
	walk = func(t0 reflect.Type, path string) {
		for i := range t0.NumField() {
			f := t0.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			key := strings.TrimPrefix(path+"."+name, ".")
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, key)
			case f.Type.Kind() == reflect.String || (f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String):
				secretish := looksSecret.MatchString(key) && !strings.HasSuffix(key, "_file")
				if secretish && f.Tag.Get("redact") != "true" {
					t.Errorf("config key %s looks like a secret but is not tagged redact:\"true\"", key)
				}
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

// The admin listener (metrics, profiler) defaults to loopback.
func TestConfig_AdminDefaultsToLoopback(t *testing.T) {
	host, _, err := net.SplitHostPort(DefaultConfig().AdminAddr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("default admin_addr %q is not loopback", DefaultConfig().AdminAddr)
	}
}
