package api

import (
	"fmt"
	"net/http"
	"time"

	"atlas11/control"
)

// Default span of listings without "to", and the horizon of public pages.
const (
	defaultSpan   = 14 * 24 * time.Hour
	publicHorizon = 28 * 24 * time.Hour
)

// ---- expert profile and availability (ACC-2, APT-1, TIME-1)

type ruleReq struct {
	Weekday     time.Weekday        `json:"weekday"` // 0 = Sunday
	StartTime   string              `json:"start_time" max:"5"`
	EndTime     string              `json:"end_time" max:"5"`
	SlotMinutes int                 `json:"slot_minutes"`
	PriceCents  int64               `json:"price_cents"`
	Media       []control.MediaKind `json:"media" max:"3" itemmax:"10"`
	TimeZone    string              `json:"time_zone,omitempty" max:"64"` // the expert's zone when empty
}

func (s *server) myProfile(r *request) (any, error) {
	return s.svc.Profile(r.ctx(), r.user.ID, r.user.ID)
}

func (s *server) updateProfile(r *request) (any, error) {
	var in control.ProfileUpdate
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return s.svc.UpdateProfile(r.ctx(), r.user.ID, in)
}

func (s *server) myRules(r *request) (any, error) {
	return list(s.svc.AvailabilityRules(r.ctx(), r.user.ID))
}

func (s *server) addRule(r *request) (any, error) {
	var in ruleReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	if in.Weekday > time.Saturday {
		return nil, apiErr(control.Invalid, "invalid_weekday", "weekday", "weekday must be 0 (Sunday) to 6 (Saturday)")
	}
	return s.svc.AddAvailabilityRule(r.ctx(), r.user.ID, control.AvailabilityRule{
		Weekday: in.Weekday, StartTime: in.StartTime, EndTime: in.EndTime, SlotMinutes: in.SlotMinutes,
		PriceCents: in.PriceCents, Media: in.Media, TimeZone: in.TimeZone})
}

func (s *server) deleteRule(r *request) (any, error) {
	return nil, s.svc.DeleteAvailabilityRule(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) addSlot(r *request) (any, error) {
	var in control.OneOffSlot
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return s.svc.AddSlot(r.ctx(), r.user.ID, in)
}

func (s *server) deleteSlot(r *request) (any, error) {
	return nil, s.svc.DeleteSlot(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) publicProfile(r *request) (any, error) {
	return s.svc.PublicProfile(r.ctx(), r.param("ref"), publicHorizon)
}

func (s *server) listSlots(r *request) (any, error) {
	from, to, err := r.span(s.svc.Clock().Now(), defaultSpan)
	if err != nil {
		return nil, err
	}
	return list(s.svc.ListSlots(r.ctx(), r.param("ref"), from, to))
}

func (s *server) listEvents(r *request) (any, error) {
	from, to, err := r.span(s.svc.Clock().Now(), 2*defaultSpan)
	if err != nil {
		return nil, err
	}
	return list(s.svc.Events(r.ctx(), r.param("ref"), from, to))
}

func (s *server) earnings(r *request) (any, error) {
	return s.svc.Earnings(r.ctx(), r.user.ID, r.param("ref"))
}

func (s *server) payouts(r *request) (any, error) {
	return list(s.svc.Payouts(r.ctx(), r.user.ID, r.param("ref")))
}

// ---- appointments (APT-2..7)

type bookReq struct {
	SlotID string            `json:"slot_id" max:"100"`
	Media  control.MediaKind `json:"media,omitempty" max:"10"` // the slot's first type when empty
}

func (s *server) book(r *request) (any, error) {
	var in bookReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	if in.SlotID == "" {
		return nil, apiErr(control.Invalid, "slot_required", "slot_id", "slot_id is required")
	}
	return s.svc.Book(r.ctx(), r.user.ID, control.BookRequest{SlotID: in.SlotID, Media: in.Media, IdempotencyKey: r.key})
}

func (s *server) listBookings(r *request) (any, error) {
	// Default: from a claim window ago, so recent items stay visible.
	from, to, err := r.span(s.svc.Clock().Now().Add(-s.svc.Settings().ClaimWindow), 2*defaultSpan)
	if err != nil {
		return nil, err
	}
	return list(s.svc.Bookings(r.ctx(), r.user.ID, from, to))
}

func (s *server) getBooking(r *request) (any, error) {
	return s.svc.Booking(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) cancelBooking(r *request) (any, error) {
	return s.svc.CancelBooking(r.ctx(), r.user.ID, r.param("id"), r.key)
}

// ---- events (EVT-1..8)

func (s *server) createEvent(r *request) (any, error) {
	var in control.NewEvent
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return s.svc.CreateEvent(r.ctx(), r.user.ID, in)
}

func (s *server) getEvent(r *request) (any, error) { return s.svc.Event(r.ctx(), r.param("id")) }

func (s *server) register(r *request) (any, error) {
	return s.svc.Register(r.ctx(), r.user.ID, r.param("id"), r.key)
}

func (s *server) registrations(r *request) (any, error) {
	return list(s.svc.Registrations(r.ctx(), r.user.ID, r.param("id")))
}

func (s *server) cancelEvent(r *request) (any, error) {
	return s.svc.CancelEvent(r.ctx(), r.user.ID, r.param("id"), r.key)
}

// ---- calls (CALL-1, CALL-3)

type callTokenView struct {
	Token        string            `json:"token"`
	ExpiresAt    time.Time         `json:"expires_at"`
	Grant        control.CallGrant `json:"grant"`
	SignalingURL string            `json:"signaling_url"`
	ICEServers   []ICEServer       `json:"ice_servers"`
}

func (s *server) callToken(r *request) (any, error) {
	tok, err := s.svc.MintCallToken(r.ctx(), r.user.ID, r.param("room"))
	if err != nil {
		return nil, err
	}
	ice := []ICEServer{}
	if s.ice != nil { // only now that the user is admitted are TURN credentials minted
		if got := s.ice(r.user.ID); got != nil {
			ice = got
		}
	}
	return callTokenView{Token: tok.Token, ExpiresAt: tok.ExpiresAt, Grant: tok.Grant,
		SignalingURL: SignalingPath, ICEServers: ice}, nil
}

func (s *server) presence(r *request) (any, error) {
	return s.svc.Presence(r.ctx(), r.user.ID, r.param("room"), r.param("user"))
}

type presenceReq struct {
	Room   string    `json:"room" max:"100"`
	User   string    `json:"user" max:"100"`
	Joined bool      `json:"joined"` // false: left
	At     time.Time `json:"at,omitzero"`
}

func (s *server) reportPresence(r *request) (any, error) {
	var in presenceReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	if in.Room == "" || in.User == "" {
		return nil, apiErr(control.Invalid, "missing_field", "room", "room and user are required")
	}
	if in.At.IsZero() {
		in.At = s.svc.Clock().Now()
	}
	return nil, s.svc.RecordPresence(r.ctx(), control.PresenceEvent{Room: in.Room, User: in.User, Joined: in.Joined, At: in.At.UTC()})
}

// ---- claims (CLM-1..6)

type claimReq struct {
	BookingID string `json:"booking_id" max:"100"`
	Reason    string `json:"reason" max:"5000"`
}

type respondReq struct {
	Kind        control.ResponseKind `json:"kind" max:"20"`
	AmountCents int64                `json:"amount_cents,omitempty"` // partial_refund only
	Message     string               `json:"message,omitempty" max:"5000"`
}

type decideReq struct {
	RefundCents int64  `json:"refund_cents"`
	Message     string `json:"message,omitempty" max:"5000"`
}

func (s *server) openClaim(r *request) (any, error) {
	var in claimReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	if in.BookingID == "" {
		return nil, apiErr(control.Invalid, "booking_required", "booking_id", "booking_id is required")
	}
	return s.svc.OpenClaim(r.ctx(), r.user.ID, in.BookingID, in.Reason)
}

func (s *server) listClaims(r *request) (any, error) { return list(s.svc.Claims(r.ctx(), r.user.ID)) }

func (s *server) getClaim(r *request) (any, error) {
	return s.svc.Claim(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) respondClaim(r *request) (any, error) {
	var in respondReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return s.svc.RespondClaim(r.ctx(), r.user.ID, r.param("id"), control.ClaimResponse{
		Kind: in.Kind, AmountCents: in.AmountCents, Message: in.Message, IdempotencyKey: r.key})
}

func (s *server) acceptClaim(r *request) (any, error) {
	return s.svc.AcceptClaim(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) rejectClaim(r *request) (any, error) {
	return s.svc.RejectClaim(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) decideClaim(r *request) (any, error) {
	var in decideReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return s.svc.DecideClaim(r.ctx(), r.user.ID, r.param("id"), control.ClaimDecision{
		RefundCents: in.RefundCents, Message: in.Message, IdempotencyKey: r.key})
}

// ---- operators (ACC-3, CLM-6, EVT-2, PAY-3)

type eventCapReq struct {
	EventCap int `json:"event_cap"` // 0 restores the default
}

func (s *server) flags(r *request) (any, error) { return list(s.svc.Flags(r.ctx(), r.user.ID)) }

func (s *server) closeAccount(r *request) (any, error) {
	return nil, s.svc.CloseAccount(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) expertProfile(r *request) (any, error) {
	return s.svc.Profile(r.ctx(), r.user.ID, r.param("id"))
}

func (s *server) setEventCap(r *request) (any, error) {
	var in eventCapReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return nil, s.svc.SetExpertEventCap(r.ctx(), r.user.ID, r.param("id"), in.EventCap)
}

func (s *server) settings(r *request) (any, error) { return s.svc.Settings(), nil }

func (s *server) updateSettings(r *request) (any, error) {
	var in control.RuntimeSettings
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	return s.svc.UpdateRuntimeSettings(r.ctx(), r.user.ID, in)
}

func (s *server) downloadBackup(r *request) (any, error) {
	if s.backup == nil {
		return nil, apiErr(control.NotFound, "backup_unavailable", "", "backups are not configured")
	}
	name := fmt.Sprintf("atlas11-%s.db", s.svc.Clock().Now().Format("20060102T150405Z"))
	r.c.Header("Content-Type", "application/octet-stream")
	r.c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	r.c.Header("Cache-Control", "no-store")
	r.c.Status(http.StatusOK)
	if _, err := s.backup(r.c.Writer); err != nil {
		// Headers are gone: the truncated download is all the client gets.
		s.log.Error("backup failed", "err", err)
		panic(http.ErrAbortHandler)
	}
	r.c.Writer.WriteHeaderNow()
	return nil, nil
}

// ---- simulation clock

type simClockReq struct {
	Advance string     `json:"advance,omitempty" max:"32"` // Go duration, e.g. "90m"
	Set     *time.Time `json:"set,omitempty"`              // RFC 3339
}

type simClockView struct {
	Now  time.Time `json:"now"`
	Jobs int       `json:"jobs"` // background jobs run after the move
}

func (s *server) simEnabled() error {
	if s.sim == nil {
		return apiErr(control.NotFound, "sim_clock_disabled", "", "the simulation clock is off: start atlas11 with --clock=sim")
	}
	return nil
}

func (s *server) simClock(r *request) (any, error) {
	if err := s.simEnabled(); err != nil {
		return nil, err
	}
	return simClockView{Now: s.sim.Now()}, nil
}

func (s *server) moveSimClock(r *request) (any, error) {
	if err := s.simEnabled(); err != nil {
		return nil, err
	}
	var in simClockReq
	if err := r.bind(&in); err != nil {
		return nil, err
	}
	switch {
	case (in.Advance == "") == (in.Set == nil):
		return nil, apiErr(control.Invalid, "one_of_advance_set", "advance", "give exactly one of advance or set")
	case in.Set != nil:
		if err := s.sim.Set(*in.Set); err != nil {
			return nil, err
		}
	default:
		d, err := time.ParseDuration(in.Advance)
		if err != nil {
			return nil, apiErr(control.Invalid, "invalid_duration", "advance", `advance: expected a duration such as "90m" or "72h"`)
		}
		if _, err := s.sim.Advance(d); err != nil {
			return nil, err
		}
	}
	jobs, err := s.svc.RunDue(r.ctx())
	if err != nil {
		return nil, err
	}
	return simClockView{Now: s.sim.Now(), Jobs: jobs}, nil
}

func (s *server) openAPI(r *request) (any, error) {
	r.c.Data(http.StatusOK, "application/json", s.openapi)
	return nil, nil
}
