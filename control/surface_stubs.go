package control

import (
	"context"
	"io"
	"time"
)

var _ io.Writer

func (s *Service) loadRuntimeSettings() error { return nil }

// UpdateRuntimeSettings lets an operator change the event cap and minimum
// prices at run time; the change is persisted and applies to new bookings
// only (existing bookings keep their Policy copy).
func (s *Service) UpdateRuntimeSettings(ctx context.Context, operatorID string, r RuntimeSettings) (Settings, error) {
	return Settings{}, errNotImplemented()
}

// ---- accounts (ACC-1..4)

// CreateUser signs up a client or an expert (ACC-1: becoming an expert is
// free). The email is normalized and must be unique (Conflict email_taken).
func (s *Service) CreateUser(ctx context.Context, in NewUser) (User, error) {
	return User{}, errNotImplemented()
}

// CreateOperator creates an operator account (CLI only: atlas11 operator create).
func (s *Service) CreateOperator(ctx context.Context, in NewUser) (User, error) {
	return User{}, errNotImplemented()
}

// User returns a user by ID (NotFound user_not_found).
func (s *Service) User(ctx context.Context, id string) (User, error) {
	return User{}, errNotImplemented()
}

// UserByEmail returns a user by email, for sign-in (NotFound user_not_found).
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	return User{}, errNotImplemented()
}

// CreateSession starts a session for a user that is not closed; the token is
// returned once and only its hash is stored.
func (s *Service) CreateSession(ctx context.Context, userID string) (Session, error) {
	return Session{}, errNotImplemented()
}

// SessionUser resolves a session token to its user (Unauthorized
// session_invalid when unknown or expired, account_closed when closed).
func (s *Service) SessionUser(ctx context.Context, token string) (User, error) {
	return User{}, errNotImplemented()
}

// DeleteSession signs out; deleting an unknown token is not an error.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	return errNotImplemented()
}

// UpdateProfile lets an expert edit their own profile (ACC-2).
func (s *Service) UpdateProfile(ctx context.Context, actorID string, up ProfileUpdate) (ExpertProfile, error) {
	return ExpertProfile{}, errNotImplemented()
}

// Profile returns an expert's full profile: to the expert and operators only.
func (s *Service) Profile(ctx context.Context, actorID, expertID string) (ExpertProfile, error) {
	return ExpertProfile{}, errNotImplemented()
}

// PublicProfile returns the shareable page of an expert by slug or ID (ACC-2)
// with bookable slots and upcoming events in [now, now+horizon).
func (s *Service) PublicProfile(ctx context.Context, slugOrID string, horizon time.Duration) (PublicProfile, error) {
	return PublicProfile{}, errNotImplemented()
}

// SetExpertEventCap lets an operator raise (or lower) one expert's event cap,
// never above Settings.MediaServerMax (EVT-2). 0 restores the default.
func (s *Service) SetExpertEventCap(ctx context.Context, operatorID, expertID string, eventCap int) error {
	return errNotImplemented()
}

// CloseAccount lets an operator close an account (ACC-3, CLM-6). For an
// expert, future appointments and events are cancelled and fully refunded;
// earned money stays payable.
func (s *Service) CloseAccount(ctx context.Context, operatorID, userID string) error {
	return errNotImplemented()
}

// Flags lists experts flagged for too many escalations (CLM-6), operators only.
func (s *Service) Flags(ctx context.Context, operatorID string) ([]Flag, error) {
	return nil, errNotImplemented()
}

// ---- scheduling (APT-1, TIME-1)

// AddAvailabilityRule publishes a weekly availability rule for the acting
// expert, in the expert's time zone unless the rule names one.
func (s *Service) AddAvailabilityRule(ctx context.Context, actorID string, r AvailabilityRule) (AvailabilityRule, error) {
	return AvailabilityRule{}, errNotImplemented()
}

// DeleteAvailabilityRule removes a rule; booked slots stay booked.
func (s *Service) DeleteAvailabilityRule(ctx context.Context, actorID, ruleID string) error {
	return errNotImplemented()
}

// AvailabilityRules lists an expert's rules.
func (s *Service) AvailabilityRules(ctx context.Context, expertID string) ([]AvailabilityRule, error) {
	return nil, errNotImplemented()
}

// AddSlot publishes one bookable one-off slot for the acting expert.
func (s *Service) AddSlot(ctx context.Context, actorID string, in OneOffSlot) (Slot, error) {
	return Slot{}, errNotImplemented()
}

// DeleteSlot removes an unbooked one-off slot.
func (s *Service) DeleteSlot(ctx context.Context, actorID, slotID string) error {
	return errNotImplemented()
}

// ListSlots expands an expert's rules and one-off slots into concrete free
// slots starting in [from, to) and not in the past, with stable IDs. Slots
// overlapping a booking or event of the expert are left out. The span is
// capped at 62 days.
func (s *Service) ListSlots(ctx context.Context, expertID string, from, to time.Time) ([]Slot, error) {
	return nil, errNotImplemented()
}

// ---- bookings (APT-2..7)

// Book books a slot for the acting client and charges its price (APT-2..4,
// PAY-1). The slot is held in one transaction, charged outside it, then
// confirmed; a failed charge releases the hold. A repeat with the same
// idempotency key returns the first booking and charges nothing more.
func (s *Service) Book(ctx context.Context, actorID string, req BookRequest) (Booking, error) {
	return Booking{}, errNotImplemented()
}

// Booking returns a booking to its client, its expert or an operator.
func (s *Service) Booking(ctx context.Context, actorID, bookingID string) (Booking, error) {
	return Booking{}, errNotImplemented()
}

// Bookings lists the actor's bookings (client: theirs; expert: with them)
// starting in [from, to).
func (s *Service) Bookings(ctx context.Context, actorID string, from, to time.Time) ([]Booking, error) {
	return nil, errNotImplemented()
}

// CancelBooking cancels an appointment or an event registration. Expert
// before start: full refund (APT-5). Client 48 h or more before start: full
// refund; later: the full price is charged (APT-6, EVT-8). Idempotent by key.
func (s *Service) CancelBooking(ctx context.Context, actorID, bookingID, idempotencyKey string) (Booking, error) {
	return Booking{}, errNotImplemented()
}

// ---- events (EVT-1..8)

// CreateEvent creates a group event for the acting expert (EVT-1..3).
func (s *Service) CreateEvent(ctx context.Context, actorID string, in NewEvent) (Event, error) {
	return Event{}, errNotImplemented()
}

// Event returns an event.
func (s *Service) Event(ctx context.Context, eventID string) (Event, error) {
	return Event{}, errNotImplemented()
}

// Events lists an expert's events starting in [from, to).
func (s *Service) Events(ctx context.Context, expertID string, from, to time.Time) ([]Event, error) {
	return nil, errNotImplemented()
}

// Register registers the acting client to an event and charges the price
// (EVT-4). Registrations never exceed the maximum. Idempotent by key.
func (s *Service) Register(ctx context.Context, actorID, eventID, idempotencyKey string) (Booking, error) {
	return Booking{}, errNotImplemented()
}

// Registrations lists an event's registrations: to its expert and operators.
func (s *Service) Registrations(ctx context.Context, actorID, eventID string) ([]Booking, error) {
	return nil, errNotImplemented()
}

// CancelEvent lets the expert cancel an event before it starts; every
// registration is fully refunded (EVT-8).
func (s *Service) CancelEvent(ctx context.Context, actorID, eventID, idempotencyKey string) (Event, error) {
	return Event{}, errNotImplemented()
}

// ---- presence and calls (CALL-1, CALL-3)

// RecordPresence stores a join or leave in a room (CALL-3). Called by the
// media server adapter or the internal presence endpoint.
func (s *Service) RecordPresence(ctx context.Context, ev PresenceEvent) error {
	return errNotImplemented()
}

// Presence returns a user's merged presence in a room up to now: to the
// room's expert, its clients and operators.
func (s *Service) Presence(ctx context.Context, actorID, room, userID string) (PresenceReport, error) {
	return PresenceReport{}, errNotImplemented()
}

// MintCallToken issues a short-lived signed token to join a room (CALL-1):
// only the booked client or registered clients and the expert, from
// RoomOpensBefore the start until the scheduled end.
func (s *Service) MintCallToken(ctx context.Context, userID, room string) (CallToken, error) {
	return CallToken{}, errNotImplemented()
}

// AdmitCall verifies a call token: signature, expiry, account still open,
// booking still active and room open.
func (s *Service) AdmitCall(ctx context.Context, token string) (CallGrant, error) {
	return CallGrant{}, errNotImplemented()
}

// ---- claims (CLM-1..6)

// OpenClaim opens a claim on the acting client's booking, within the claim
// window of its end or late cancellation (CLM-1, CLM-2).
func (s *Service) OpenClaim(ctx context.Context, actorID, bookingID, reason string) (Claim, error) {
	return Claim{}, errNotImplemented()
}

// RespondClaim is the expert's action on an open claim: full refund, partial
// refund (never more than paid minus refunded) or decline (CLM-3, CLM-4).
func (s *Service) RespondClaim(ctx context.Context, actorID, claimID string, r ClaimResponse) (Claim, error) {
	return Claim{}, errNotImplemented()
}

// AcceptClaim is the client's agreement with the expert's response: resolved.
func (s *Service) AcceptClaim(ctx context.Context, actorID, claimID string) (Claim, error) {
	return Claim{}, errNotImplemented()
}

// RejectClaim is the client's disagreement: the claim escalates to the
// platform (CLM-5) and counts towards the expert's flag (CLM-6).
func (s *Service) RejectClaim(ctx context.Context, actorID, claimID string) (Claim, error) {
	return Claim{}, errNotImplemented()
}

// DecideClaim is an operator's decision on an escalated claim (CLM-5); the
// refund may come from the expert's earnings even if already payable.
func (s *Service) DecideClaim(ctx context.Context, operatorID, claimID string, d ClaimDecision) (Claim, error) {
	return Claim{}, errNotImplemented()
}

// Claim returns a claim to its client, its expert or an operator, with the
// expert's presence as evidence.
func (s *Service) Claim(ctx context.Context, actorID, claimID string) (Claim, error) {
	return Claim{}, errNotImplemented()
}

// Claims lists the actor's claims (client or expert); for operators, the
// escalated claims waiting for a decision.
func (s *Service) Claims(ctx context.Context, actorID string) ([]Claim, error) {
	return nil, errNotImplemented()
}

// ---- money (PAY-1..7)

// Balances returns every ledger account balance (credits minus debits).
func (s *Service) Balances(ctx context.Context) (map[string]int64, error) {
	return nil, errNotImplemented()
}

// Journal returns the whole append-only journal in order.
func (s *Service) Journal(ctx context.Context) ([]Transfer, error) {
	return nil, errNotImplemented()
}

// VerifyLedger recomputes every balance from the journal and checks it
// against the stored balances, that every transfer is positive and that all
// balances sum to zero.
func (s *Service) VerifyLedger(ctx context.Context) error {
	return errNotImplemented()
}

// Earnings returns an expert's escrow, pending, payable, paid and next
// payout date: to the expert and operators.
func (s *Service) Earnings(ctx context.Context, actorID, expertID string) (Earnings, error) {
	return Earnings{}, errNotImplemented()
}

// Payouts lists an expert's payouts: to the expert and operators.
func (s *Service) Payouts(ctx context.Context, actorID, expertID string) ([]Payout, error) {
	return nil, errNotImplemented()
}

// ---- background work

// RunDue does all work due at Clock.Now(): releases stale payment holds,
// settles appointments and events after their end (APT-6, APT-7, EVT-6),
// cancels events under their minimum at start (EVT-5), closes claim windows
// (PAY-5), runs payouts (PAY-6) and retries gateway refunds and payouts. It
// returns the number of jobs done. Safe to run concurrently and repeatedly:
// state lives in the store, so no job is ever done twice.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	return 0, errNotImplemented()
}

// ---- activity (ACC-4)

// Activity returns the user's recent and upcoming items, newest first, each
// with the actions allowed right now.
func (s *Service) Activity(ctx context.Context, userID string) ([]ActivityItem, error) {
	return nil, errNotImplemented()
}
