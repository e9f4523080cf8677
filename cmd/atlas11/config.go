package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/goccy/go-yaml"

	"atlas11/control"
)

// Config is everything the binary reads at start. Defaults come first, then
// the YAML file (unknown keys rejected), then environment variables, then
// flags; Validate names the first bad key.
type Config struct {
	HTTP HTTPConfig `yaml:"http"`
	// AdminAddr serves /metrics and /debug/pprof; empty: no admin listener.
	AdminAddr string           `yaml:"admin_addr"`
	DataDir   string           `yaml:"data_dir"`
	Clock     string           `yaml:"clock"` // "system" or "sim"
	Log       LogConfig        `yaml:"log"`
	Secrets   SecretsConfig    `yaml:"secrets"`
	Rules     control.Settings `yaml:"rules"`
	SFU       SFUConfig        `yaml:"sfu"`
	TURN      TURNConfig       `yaml:"turn"`
	TLS       TLSSettings      `yaml:"tls"`
	Mail      MailSettings     `yaml:"mail"`
}

// HTTPConfig is the main listener: API, signaling WebSocket, web app, metrics.
type HTTPConfig struct {
	Addr            string        `yaml:"addr"`
	SecureCookies   bool          `yaml:"secure_cookies"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReadTimeout bounds reading a whole request, body included;
	// WriteTimeout writing its answer (for the backup download: each write);
	// IdleTimeout a keep-alive connection waiting for its next request.
	ReadTimeout   time.Duration `yaml:"read_timeout"`
	WriteTimeout  time.Duration `yaml:"write_timeout"`
	IdleTimeout   time.Duration `yaml:"idle_timeout"`
	MaxConnsPerIP int           `yaml:"max_conns_per_ip"` // open connections per client address; 0: no cap
	// TrustedProxies (CIDRs or addresses) are the reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed; empty: none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
	// Access writes one line per HTTP request of the main listener, at info
	// level (msg "request"; see accesslog.go).
	Access bool `yaml:"access"`
}

// SecretsConfig holds shared secrets. Empty values are generated once and
// kept in <data_dir>/secrets.json, so a fresh install needs no set-up.
type SecretsConfig struct {
	CallToken string `yaml:"call_token" redact:"true"`
	Internal  string `yaml:"internal" redact:"true"`
}

// DefaultConfig is the embedded default: everything on loopback, data under ./data.
func DefaultConfig() Config {
	return Config{
		HTTP: HTTPConfig{Addr: "127.0.0.1:8080", ShutdownTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
			MaxConnsPerIP: 64},
		AdminAddr: defaultAdminAddr,
		DataDir:   "./data",
		Clock:     "system",
		Log:       LogConfig{Level: "info", Format: "text", Access: true},
		Rules:     control.DefaultSettings(),
		SFU:       defaultSFUConfig(),
		TURN:      defaultTURNConfig(),
		TLS:       defaultTLSSettings(),
		Mail:      defaultMailSettings(),
	}
}

// LoadConfigFile applies a YAML file on top of c, rejecting unknown keys.
func (c *Config) LoadConfigFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return c.LoadYAML(data, path)
}

// LoadYAML applies YAML text on top of c; name is used in error messages.
func (c *Config) LoadYAML(data []byte, name string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	// Lists replace rather than merge: decode payout days on their own.
	days := c.Rules.PayoutDays
	c.Rules.PayoutDays = nil
	if err := yaml.UnmarshalWithOptions(data, c, yaml.DisallowUnknownField()); err != nil {
		return fmt.Errorf("config %s: %s", name, yaml.FormatError(err, false, true))
	}
	if c.Rules.PayoutDays == nil {
		c.Rules.PayoutDays = days
	}
	return nil
}

// envKeys maps environment variables onto config keys.
var envKeys = []struct {
	name string
	set  func(*Config, string) error
}{
	{"ATLAS11_HTTP_ADDR", func(c *Config, v string) error { c.HTTP.Addr = v; return nil }},
	{"ATLAS11_ADMIN_ADDR", func(c *Config, v string) error { c.AdminAddr = v; return nil }},
	{"ATLAS11_DATA_DIR", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"ATLAS11_CLOCK", func(c *Config, v string) error { c.Clock = v; return nil }},
	{"ATLAS11_LOG_LEVEL", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"ATLAS11_SECURE_COOKIES", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.HTTP.SecureCookies = b
		return err
	}},
	{"ATLAS11_CALL_TOKEN_SECRET", func(c *Config, v string) error { c.Secrets.CallToken = v; return nil }},
	{"ATLAS11_INTERNAL_SECRET", func(c *Config, v string) error { c.Secrets.Internal = v; return nil }},
	{"ATLAS11_SMTP_PASSWORD", func(c *Config, v string) error { c.Mail.Password = v; return nil }},
}

// LoadEnv applies ATLAS11_* environment variables.
func (c *Config) LoadEnv(getenv func(string) string) error {
	for _, k := range envKeys {
		if v := getenv(k.name); v != "" {
			if err := k.set(c, v); err != nil {
				return fmt.Errorf("config: %s=%q: %w", k.name, v, err)
			}
		}
	}
	return nil
}

// Validate reports the first bad value, naming its key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		return fmt.Errorf("config: http.addr %q: %w", c.HTTP.Addr, err)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"shutdown_timeout", c.HTTP.ShutdownTimeout}, {"read_timeout", c.HTTP.ReadTimeout},
		{"write_timeout", c.HTTP.WriteTimeout}, {"idle_timeout", c.HTTP.IdleTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("config: http.%s must be positive", d.key)
		}
	}
	if _, err := parseTrusted(c.HTTP.TrustedProxies); err != nil {
		return err
	}
	if c.HTTP.MaxConnsPerIP < 0 {
		return errors.New("config: http.max_conns_per_ip must be 0 (no cap) or more")
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			return fmt.Errorf("config: admin_addr %q: %w", c.AdminAddr, err)
		}
	}
	if c.DataDir == "" {
		return errors.New("config: data_dir must not be empty")
	}
	switch c.Clock {
	case "system", "sim":
	default:
		return fmt.Errorf("config: clock must be \"system\" or \"sim\", got %q", c.Clock)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format must be text or json, got %q", c.Log.Format)
	}
	if s := c.Secrets.CallToken; s != "" && len(s) < 32 {
		return errors.New("config: secrets.call_token must be at least 32 characters")
	}
	if s := c.Secrets.Internal; s != "" && len(s) < 32 {
		return errors.New("config: secrets.internal must be at least 32 characters")
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if err := c.validateMail(); err != nil {
		return err
	}
	if err := c.validateMedia(); err != nil {
		return err
	}
	if err := c.Rules.Validate(); err != nil {
		var ce *control.Error
		if errors.As(err, &ce) && ce.Field != "" {
			return fmt.Errorf("config: rules.%s: %s", ce.Field, ce.Message)
		}
		return fmt.Errorf("config: rules: %w", err)
	}
	return nil
}

// DBPath is the bbolt file inside the data directory.
func (c *Config) DBPath() string { return filepath.Join(c.DataDir, "atlas11.db") }
