package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

// The documented example must parse, validate, and equal the embedded
// defaults, so neither can drift from the other.
func TestConfig_ExampleFileParsesToDefaults(t *testing.T) {
	cfg, err := loadConfig("test", []string{"--config", "../../configs/atlas11.example.yaml"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	// Printed forms compare nil and empty lists alike, as YAML does.
	if def := DefaultConfig(); fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", def) {
		t.Fatalf("example config differs from defaults:\n got %+v\nwant %+v", cfg, def)
	}
}

func TestConfig_RejectsBadInputNamingTheKey(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "http:\n  adress: 1\n", `unknown field "adress"`},
		{"unknown top key", "colour: red\n", `unknown field "colour"`},
		{"cap over media max (EVT-2)", "rules:\n  event_cap: 60\n", "rules.event_cap"},
		{"bad zone (TIME-1)", "rules:\n  platform_time_zone: Mars/Olympus\n", "rules.platform_time_zone"},
		{"bad clock", "clock: fast\n", "clock"},
		{"bad addr", "http:\n  addr: nowhere\n", "http.addr"},
		{"short secret", "secrets:\n  call_token: short\n", "secrets.call_token"},
		{"negative min price (PAY-3)", "rules:\n  min_prices:\n    video: -1\n", "rules.min_prices"},
		{"payout day 31 (PAY-6)", "rules:\n  payout_days: [1, 31]\n", "rules.payout_days"},
		{"no chat rate", "sfu:\n  chat_rate: 0\n", "sfu.chat_rate"},
		{"negative chat burst", "sfu:\n  chat_burst: -1\n", "sfu.chat_burst"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			err := cfg.LoadYAML([]byte(tc.yaml), "test.yaml")
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestConfig_EnvThenFlagsOverrideFile(t *testing.T) {
	env := map[string]string{"ATLAS11_HTTP_ADDR": "127.0.0.1:9000", "ATLAS11_CLOCK": "sim"}
	cfg, err := loadConfig("test", []string{"--addr", "127.0.0.1:9001"}, func(k string) string { return env[k] }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9001" || cfg.Clock != "sim" {
		t.Fatalf("got addr %s clock %s", cfg.HTTP.Addr, cfg.Clock)
	}
}

func TestConfig_PayoutDaysReplaceDefaults(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.LoadYAML([]byte("rules:\n  payout_days: [5]\n"), "t"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Rules.PayoutDays, []int{5}) {
		t.Fatalf("payout days %v", cfg.Rules.PayoutDays)
	}
}
