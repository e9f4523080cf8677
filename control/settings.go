package control

import (
	"time"
)

// MinPrices holds the minimum price in cents per service type (PAY-3).
type MinPrices struct {
	Video int64 `json:"video"`
	Audio int64 `json:"audio"`
	Chat  int64 `json:"chat"`
	Event int64 `json:"event"`
}

// For returns the minimum for a media kind of an appointment.
func (m MinPrices) For(k MediaKind) int64 {
	switch k {
	case MediaAudio:
		return m.Audio
	case MediaChat:
		return m.Chat
	default:
		return m.Video
	}
}

// Settings holds every value RULES.md marks as a *setting*. The lead loads
// them from config; operators may change EventCap and MinPrices at run time
// (persisted in the store, see UpdateRuntimeSettings).
type Settings struct {
	EventCap              int           `json:"event_cap"`                // EVT-2 default cap on max participants
	MediaServerMax        int           `json:"media_server_max"`         // EVT-2 hard ceiling for any override
	MinPrices             MinPrices     `json:"min_prices"`               // PAY-3
	PayoutThresholdCents  int64         `json:"payout_threshold_cents"`   // PAY-6
	PayoutDays            []int         `json:"payout_days"`              // PAY-6, days of month
	PlatformTimeZone      string        `json:"platform_time_zone"`       // PAY-6
	EscalationFlagCount   int           `json:"escalation_flag_count"`    // CLM-6
	EscalationWindow      time.Duration `json:"escalation_window"`        // CLM-6
	RoomOpensBefore       time.Duration `json:"room_opens_before"`        // CALL-1
	ClientCancelWindow    time.Duration `json:"client_cancel_window"`     // APT-6
	ClaimWindow           time.Duration `json:"claim_window"`             // CLM-2, PAY-5
	ExpertPresenceMin     time.Duration `json:"expert_presence_min"`      // EVT-6
	PlatformShareBasisPts int           `json:"platform_share_basis_pts"` // PAY-2: 1000 = 10 %
	Currency              string        `json:"currency"`
	SessionTTL            time.Duration `json:"session_ttl"`
	CallTokenTTL          time.Duration `json:"call_token_ttl"`
	PaymentHoldTimeout    time.Duration `json:"payment_hold_timeout"` // a hold never confirmed is released after this
	MaxItemDuration       time.Duration `json:"max_item_duration"`    // longest appointment or event
	SupportEmail          string        `json:"support_email"`        // CLM-5
}

// DefaultSettings returns the defaults of RULES.md.
func DefaultSettings() Settings {
	return Settings{
		EventCap:              49,
		MediaServerMax:        49,
		MinPrices:             MinPrices{Video: 1000, Audio: 800, Chat: 500, Event: 500},
		PayoutThresholdCents:  5000,
		PayoutDays:            []int{1, 16},
		PlatformTimeZone:      "Europe/Paris",
		EscalationFlagCount:   3,
		EscalationWindow:      90 * 24 * time.Hour,
		RoomOpensBefore:       10 * time.Minute,
		ClientCancelWindow:    48 * time.Hour,
		ClaimWindow:           72 * time.Hour,
		ExpertPresenceMin:     5 * time.Minute,
		PlatformShareBasisPts: 1000,
		Currency:              "EUR",
		SessionTTL:            14 * 24 * time.Hour,
		CallTokenTTL:          2 * time.Minute,
		PaymentHoldTimeout:    15 * time.Minute,
		MaxItemDuration:       12 * time.Hour,
		SupportEmail:          "support@atlas11.example",
	}
}

// Validate reports the first bad value with the name of its key.
func (s Settings) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fieldErr(field, "invalid_setting", format, args...)
	}
	switch {
	case s.MediaServerMax < 1:
		return bad("media_server_max", "must be at least 1, got %d", s.MediaServerMax)
	case s.EventCap < 1 || s.EventCap > s.MediaServerMax:
		return bad("event_cap", "must be between 1 and media_server_max (%d), got %d", s.MediaServerMax, s.EventCap)
	case s.MinPrices.Video < 0 || s.MinPrices.Audio < 0 || s.MinPrices.Chat < 0 || s.MinPrices.Event < 0:
		return bad("min_prices", "minimum prices cannot be negative")
	case s.PayoutThresholdCents < 0:
		return bad("payout_threshold_cents", "cannot be negative")
	case len(s.PayoutDays) == 0:
		return bad("payout_days", "at least one payout day is needed")
	case s.EscalationFlagCount < 1:
		return bad("escalation_flag_count", "must be at least 1")
	case s.EscalationWindow <= 0:
		return bad("escalation_window", "must be positive")
	case s.RoomOpensBefore < 0:
		return bad("room_opens_before", "cannot be negative")
	case s.ClientCancelWindow < 0:
		return bad("client_cancel_window", "cannot be negative")
	case s.ClaimWindow <= 0:
		return bad("claim_window", "must be positive")
	case s.ExpertPresenceMin < 0:
		return bad("expert_presence_min", "cannot be negative")
	case s.PlatformShareBasisPts < 0 || s.PlatformShareBasisPts > 10000:
		return bad("platform_share_basis_pts", "must be between 0 and 10000, got %d", s.PlatformShareBasisPts)
	case len(s.Currency) != 3:
		return bad("currency", "must be a 3-letter ISO 4217 code, got %q", s.Currency)
	case s.SessionTTL <= 0:
		return bad("session_ttl", "must be positive")
	case s.CallTokenTTL <= 0:
		return bad("call_token_ttl", "must be positive")
	case s.PaymentHoldTimeout <= 0:
		return bad("payment_hold_timeout", "must be positive")
	case s.MaxItemDuration <= 0:
		return bad("max_item_duration", "must be positive")
	}
	for _, d := range s.PayoutDays {
		if d < 1 || d > 28 {
			return bad("payout_days", "each day must be between 1 and 28, got %d", d)
		}
	}
	if _, err := time.LoadLocation(s.PlatformTimeZone); err != nil || s.PlatformTimeZone == "" {
		return bad("platform_time_zone", "unknown IANA time zone %q", s.PlatformTimeZone)
	}
	return nil
}

// RuntimeSettings are the settings an operator may change while running.
// Nil fields are left unchanged.
type RuntimeSettings struct {
	EventCap  *int       `json:"event_cap,omitempty"`
	MinPrices *MinPrices `json:"min_prices,omitempty"`
}

func (r RuntimeSettings) apply(s Settings) (Settings, error) {
	if r.EventCap != nil {
		s.EventCap = *r.EventCap
	}
	if r.MinPrices != nil {
		s.MinPrices = *r.MinPrices
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}
