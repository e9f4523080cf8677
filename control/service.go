package control

import (
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"sync"
	"time"
)

// Config is what NewService needs. Store, Gateway and CallSecret are
// required; Clock defaults to SystemClock, Settings to DefaultSettings,
// Logger to a discarding logger.
type Config struct {
	Store      Store
	Gateway    Gateway
	Clock      Clock
	Settings   Settings
	CallSecret []byte // HMAC-SHA256 key for call tokens, at least 32 bytes
	Logger     *slog.Logger
	// Mailer sends the queued notices from RunDue; nil keeps them queued
	// for operators to read (the default: no mail server needed).
	Mailer Mailer
}

// Service is the control plane: every public method is one use case, runs
// its checks and writes in one store transaction, and reads the clock once.
type Service struct {
	store   Store
	gateway Gateway
	clock   Clock
	secret  []byte
	log     *slog.Logger
	mailer  Mailer

	sessions *sessionCache
	userMemo *userMemo

	mu       sync.RWMutex
	settings Settings // effective: config plus persisted runtime overrides
}

// NewService validates cfg, loads persisted runtime settings and returns the
// service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Gateway == nil {
		return nil, Errorf(Invalid, "invalid_config", "store and gateway are required")
	}
	if len(cfg.CallSecret) < 32 {
		return nil, fieldErr("call_secret", "invalid_config", "call token secret must be at least 32 bytes")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Settings.Currency == "" {
		cfg.Settings = DefaultSettings()
	}
	if err := cfg.Settings.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: cfg.Store, gateway: cfg.Gateway, clock: cfg.Clock,
		secret: append([]byte(nil), cfg.CallSecret...), log: cfg.Logger, settings: cfg.Settings, mailer: cfg.Mailer,
		sessions: newSessionCache(), userMemo: newUserMemo()}
	if err := s.loadRuntimeSettings(); err != nil {
		return nil, err
	}
	return s, nil
}

// Clock returns the clock the service reads.
func (s *Service) Clock() Clock { return s.clock }

// Settings returns the effective settings.
func (s *Service) Settings() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.settings
	st.PayoutDays = append([]int(nil), st.PayoutDays...)
	return st
}

// idEncoding is base32 with an alphabet in ASCII order, so that IDs sort
// like their bytes.
var idEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// newID returns a public identifier: 48 bits of milliseconds then 80
// random bits (26 characters). The random part makes it unguessable; the
// time prefix only makes new records land next to each other in the
// store's B+trees, so a commit rewrites few pages. No rule reads it.
func newID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b[:])
}
