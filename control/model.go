package control

import "time"

// Role is a user's role (ACC-1).
type Role string

// Roles.
const (
	RoleClient   Role = "client"
	RoleExpert   Role = "expert"
	RoleOperator Role = "operator"
)

// MediaKind is a communication type of an appointment (APT-1).
type MediaKind string

// Media kinds.
const (
	MediaVideo MediaKind = "video"
	MediaAudio MediaKind = "audio"
	MediaChat  MediaKind = "chat"
)

// User is an account. PasswordHash is produced and checked by the API layer
// (argon2id); the domain only stores it.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"` // normalized: trimmed, lower case
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"password_hash,omitempty"`
	Closed       bool      `json:"closed"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`
	Locale       string    `json:"locale"`    // "fr" (default) or "en"
	TimeZone     string    `json:"time_zone"` // IANA, e.g. Europe/Paris
	CreatedAt    time.Time `json:"created_at"`
	NoReminders  bool      `json:"no_reminders,omitempty"` // declined the reminder e-mails
	// EmailVerified is set once the address's link was followed.
	EmailVerified bool `json:"email_verified,omitempty"`
}

// NewUser is the input of CreateUser and CreateOperator.
type NewUser struct {
	Email        string `json:"email"`
	Name         string `json:"name"`
	Role         Role   `json:"role"` // client or expert; ignored by CreateOperator
	PasswordHash string `json:"password_hash"`
	Locale       string `json:"locale"`
	TimeZone     string `json:"time_zone"`
}

// BillingDetails are what a payout needs (PAY-6).
type BillingDetails struct {
	HolderName string `json:"holder_name" max:"70"`
	IBAN       string `json:"iban" max:"50"`
	Country    string `json:"country,omitempty" max:"2"`
}

// Complete reports whether payouts can be sent with these details.
func (b BillingDetails) Complete() bool { return b.HolderName != "" && b.IBAN != "" }

// ExpertProfile is the expert's public page (ACC-2) plus private billing data.
type ExpertProfile struct {
	ExpertID  string          `json:"expert_id"`
	Name      string          `json:"name"`
	Headline  string          `json:"headline"`
	Bio       string          `json:"bio"`
	Languages []string        `json:"languages"`
	TimeZone  string          `json:"time_zone"`
	Slug      string          `json:"slug"` // shareable link: /e/<slug>
	Billing   *BillingDetails `json:"billing,omitempty"`
	// EventCap overrides Settings.EventCap for this expert when > 0; never
	// above Settings.MediaServerMax (EVT-2).
	EventCap int  `json:"event_cap,omitempty"`
	Closed   bool `json:"closed"`
	// Flagged is set when escalations reach the CLM-6 threshold.
	Flagged bool `json:"flagged"`
}

// ProfileUpdate changes an expert's own profile. Nil fields are unchanged.
type ProfileUpdate struct {
	Headline  *string         `json:"headline,omitempty" max:"200"`
	Bio       *string         `json:"bio,omitempty" max:"10000"`
	Languages []string        `json:"languages,omitempty" max:"10" itemmax:"35"`
	TimeZone  *string         `json:"time_zone,omitempty" max:"64"`
	Slug      *string         `json:"slug,omitempty" max:"40"`
	Billing   *BillingDetails `json:"billing,omitempty"`
}

// PublicProfile is what anyone sees on the shareable link (ACC-2): no billing.
type PublicProfile struct {
	ExpertID  string   `json:"expert_id"`
	Name      string   `json:"name"`
	Headline  string   `json:"headline"`
	Bio       string   `json:"bio"`
	Languages []string `json:"languages"`
	TimeZone  string   `json:"time_zone"`
	Slug      string   `json:"slug"`
	Slots     []Slot   `json:"slots"`
	Events    []Event  `json:"events"`
}

// Session maps a random token to a user. Only a hash of the token is stored.
type Session struct {
	Token     string    `json:"token,omitempty"` // returned once by CreateSession
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AvailabilityRule is a weekly recurring window in the expert's own time zone
// (APT-1, TIME-1), cut into slots of SlotMinutes.
type AvailabilityRule struct {
	ID          string       `json:"id"`
	ExpertID    string       `json:"expert_id"`
	Weekday     time.Weekday `json:"weekday"`    // 0 = Sunday
	StartTime   string       `json:"start_time"` // local "HH:MM"
	EndTime     string       `json:"end_time"`   // local "HH:MM", after StartTime
	SlotMinutes int          `json:"slot_minutes"`
	PriceCents  int64        `json:"price_cents"`
	Media       []MediaKind  `json:"media"`
	TimeZone    string       `json:"time_zone"` // IANA zone the times are in
	// ValidFrom bounds the rule: no slot starts before it (set to creation).
	ValidFrom time.Time `json:"valid_from"`
}

// OneOffSlot is the input of AddSlot: a single bookable slot.
type OneOffSlot struct {
	Start      time.Time   `json:"start"`
	Minutes    int         `json:"minutes"`
	PriceCents int64       `json:"price_cents"`
	Media      []MediaKind `json:"media" max:"3" itemmax:"10"`
}

// Slot is one concrete bookable time. Its ID is stable: for a rule slot it
// is derived from the rule and the start instant, so listing twice gives the
// same IDs and Book can find it again.
type Slot struct {
	ID         string      `json:"id"`
	ExpertID   string      `json:"expert_id"`
	RuleID     string      `json:"rule_id,omitempty"`
	Start      time.Time   `json:"start"` // UTC
	End        time.Time   `json:"end"`
	PriceCents int64       `json:"price_cents"`
	Media      []MediaKind `json:"media"`
	Booked     bool        `json:"booked"`
}

// Policy is the copy of the rules a booking is made under. Later settings
// changes never change what an existing booking owes.
type Policy struct {
	ClientCancelWindow    time.Duration `json:"client_cancel_window"`
	ClaimWindow           time.Duration `json:"claim_window"`
	ExpertPresenceMin     time.Duration `json:"expert_presence_min"`
	PlatformShareBasisPts int           `json:"platform_share_basis_pts"`
	RoomOpensBefore       time.Duration `json:"room_opens_before"`
	Currency              string        `json:"currency"`
}

// BookingKind tells an appointment from an event registration.
type BookingKind string

// Booking kinds.
const (
	KindAppointment  BookingKind = "appointment"
	KindRegistration BookingKind = "registration"
)

// BookingStatus is the life cycle of a booking.
type BookingStatus string

// Booking statuses.
const (
	StatusPendingPayment BookingStatus = "pending_payment" // slot held, charge in flight
	StatusConfirmed      BookingStatus = "confirmed"       // paid, money in escrow
	StatusCancelled      BookingStatus = "cancelled"       // see CancelledBy and Charged
	StatusCompleted      BookingStatus = "completed"       // settled after its end
	StatusPaymentFailed  BookingStatus = "payment_failed"  // charge refused, hold released
)

// Booking is an appointment (1:1) or an event registration: both hold money
// in escrow and end in a settlement.
type Booking struct {
	ID         string        `json:"id"`
	Kind       BookingKind   `json:"kind"`
	ExpertID   string        `json:"expert_id"`
	ClientID   string        `json:"client_id"`
	SlotID     string        `json:"slot_id,omitempty"`
	EventID    string        `json:"event_id,omitempty"`
	Room       string        `json:"room"` // call room: the booking ID, or the event ID
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end"`
	Media      MediaKind     `json:"media"`
	PriceCents int64         `json:"price_cents"`
	Status     BookingStatus `json:"status"`
	Policy     Policy        `json:"policy"`
	CreatedAt  time.Time     `json:"created_at"`

	ChargeID      string    `json:"charge_id,omitempty"`
	PaidCents     int64     `json:"paid_cents"`     // charged to the client
	RefundedCents int64     `json:"refunded_cents"` // returned to the client so far
	CancelledBy   Role      `json:"cancelled_by,omitempty"`
	CancelledAt   time.Time `json:"cancelled_at,omitzero"`
	// Charged is true when the client owes the price in the end (late cancel,
	// no-show, delivered); false when everything was refunded.
	Charged bool `json:"charged"`
	// SettledAt is when escrow was released to the expert and the platform.
	SettledAt time.Time `json:"settled_at,omitzero"`
	// ClaimUntil is the end of the claim window (CLM-2).
	ClaimUntil time.Time `json:"claim_until,omitzero"`
	// ReleasedAt is when the expert's share became payable (PAY-5).
	ReleasedAt   time.Time `json:"released_at,omitzero"`
	ExpertShare  int64     `json:"expert_share"`   // of the price, PAY-2
	PlatformPart int64     `json:"platform_share"` // of the price, PAY-2
	ExpertRefund int64     `json:"expert_refunded"`
	PlatformRef  int64     `json:"platform_refunded"`
	Outcome      string    `json:"outcome,omitempty"` // why it ended as it did
}

// BookRequest is the input of Book.
type BookRequest struct {
	SlotID         string    `json:"slot_id"`
	Media          MediaKind `json:"media"`
	IdempotencyKey string    `json:"idempotency_key"`
}

// EventStatus is the life cycle of an event.
type EventStatus string

// Event statuses.
const (
	EventScheduled EventStatus = "scheduled"
	EventCancelled EventStatus = "cancelled"
	EventCompleted EventStatus = "completed"
)

// NewEvent is the input of CreateEvent (EVT-1).
type NewEvent struct {
	Title           string    `json:"title" max:"200"`
	Description     string    `json:"description" max:"10000"`
	Start           time.Time `json:"start"`
	Minutes         int       `json:"minutes"`
	PriceCents      int64     `json:"price_cents"`
	MinParticipants int       `json:"min_participants"`
	MaxParticipants int       `json:"max_participants"`
}

// Event is a group call (EVT-1..8).
type Event struct {
	ID              string      `json:"id"`
	ExpertID        string      `json:"expert_id"`
	Title           string      `json:"title"`
	Description     string      `json:"description"`
	Start           time.Time   `json:"start"`
	End             time.Time   `json:"end"`
	PriceCents      int64       `json:"price_cents"`
	MinParticipants int         `json:"min_participants"`
	MaxParticipants int         `json:"max_participants"`
	Registered      int         `json:"registered"` // active registrations
	Status          EventStatus `json:"status"`
	Outcome         string      `json:"outcome,omitempty"`
	Policy          Policy      `json:"policy"`
	CreatedAt       time.Time   `json:"created_at"`
}

// ClaimStatus is the claim state machine (CLM-4, CLM-5).
type ClaimStatus string

// Claim statuses: open -> responded -> resolved | escalated -> decided.
const (
	ClaimOpen      ClaimStatus = "open"      // waiting for the expert
	ClaimResponded ClaimStatus = "responded" // expert acted, waiting for the client
	ClaimResolved  ClaimStatus = "resolved"  // client accepted
	ClaimEscalated ClaimStatus = "escalated" // client rejected: an operator decides
	ClaimDecided   ClaimStatus = "decided"   // operator decided
)

// ResponseKind is what an expert does on a claim (CLM-4).
type ResponseKind string

// Expert responses.
const (
	RespondFullRefund    ResponseKind = "full_refund"
	RespondPartialRefund ResponseKind = "partial_refund"
	RespondDecline       ResponseKind = "decline"
)

// ClaimResponse is the input of RespondClaim.
type ClaimResponse struct {
	Kind           ResponseKind `json:"kind"`
	AmountCents    int64        `json:"amount_cents"` // partial refund only
	Message        string       `json:"message"`
	IdempotencyKey string       `json:"idempotency_key"`
}

// ClaimDecision is the input of DecideClaim (CLM-5).
type ClaimDecision struct {
	RefundCents    int64  `json:"refund_cents"`
	Message        string `json:"message"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Claim is a client's complaint about a booking (CLM-1..6).
type Claim struct {
	ID              string       `json:"id"`
	BookingID       string       `json:"booking_id"`
	ClientID        string       `json:"client_id"`
	ExpertID        string       `json:"expert_id"`
	Reason          string       `json:"reason"`
	Status          ClaimStatus  `json:"status"`
	OpenedAt        time.Time    `json:"opened_at"`
	Response        ResponseKind `json:"response,omitempty"`
	ResponseMessage string       `json:"response_message,omitempty"`
	RespondedAt     time.Time    `json:"responded_at,omitzero"`
	ExpertRefund    int64        `json:"expert_refund_cents"` // refunded by the expert's response
	EscalatedAt     time.Time    `json:"escalated_at,omitzero"`
	DecisionRefund  int64        `json:"decision_refund_cents"`
	DecisionMessage string       `json:"decision_message,omitempty"`
	DecidedBy       string       `json:"decided_by,omitempty"`
	ClosedAt        time.Time    `json:"closed_at,omitzero"`
	// Presence is the expert's presence in the call, shown as evidence (CALL-3).
	Presence *PresenceReport `json:"presence,omitempty"`
}

// PresenceEvent is one join or leave in a call room (CALL-3).
type PresenceEvent struct {
	Room   string    `json:"room"`
	User   string    `json:"user"`
	Joined bool      `json:"joined"` // false: left
	At     time.Time `json:"at"`
}

// Interval is a span of presence.
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// PresenceReport is the presence of one user in one room: merged intervals
// (an open interval is closed at Until) and their total.
type PresenceReport struct {
	Room      string        `json:"room"`
	User      string        `json:"user"`
	Intervals []Interval    `json:"intervals"`
	Total     time.Duration `json:"total"`
	Until     time.Time     `json:"until"`
}

// CallToken is a short-lived signed admission to a call room (CALL-1).
type CallToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Grant     CallGrant `json:"grant"`
}

// CallGrant is what a valid call token admits.
type CallGrant struct {
	Room      string      `json:"room"`
	UserID    string      `json:"user_id"`
	Name      string      `json:"name"`
	Role      string      `json:"role"` // "expert" or "client"
	Kind      BookingKind `json:"kind"` // appointment: both sides send; registration: an event room, only the expert sends
	Media     MediaKind   `json:"media"`
	Capacity  int         `json:"capacity"` // participants the room may hold, expert included
	OpensAt   time.Time   `json:"opens_at"`
	ClosesAt  time.Time   `json:"closes_at"`
	ExpiresAt time.Time   `json:"expires_at"`
}

// Transfer is one balanced journal entry (PAY-7): Amount moves From -> To.
type Transfer struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Amount    int64     `json:"amount_cents"` // always > 0
	Reason    string    `json:"reason"`
	BookingID string    `json:"booking_id,omitempty"`
	Ref       string    `json:"ref,omitempty"` // claim, payout or event ID
}

// Ledger account names.
const (
	AccountPlatformRevenue = "platform:revenue"
	AccountPayouts         = "external:payouts"
)

// AccountClient is the outside-world account a client pays from.
func AccountClient(clientID string) string { return "external:client:" + clientID }

// AccountEscrow holds a booking's money until settlement.
func AccountEscrow(bookingID string) string { return "escrow:" + bookingID }

// AccountExpertPending holds earnings inside their claim window.
func AccountExpertPending(expertID string) string { return "expert:" + expertID + ":pending" }

// AccountExpertPayable holds earnings ready for the next payout.
func AccountExpertPayable(expertID string) string { return "expert:" + expertID + ":payable" }

// AccountExpertPaid counts what has been paid out to an expert (a mirror of
// external:payouts per expert, so the UI can show it).
func AccountExpertPaid(expertID string) string { return "external:payouts:" + expertID }

// Earnings summarizes an expert's money for the UI.
type Earnings struct {
	ExpertID   string    `json:"expert_id"`
	Escrow     int64     `json:"escrow_cents"` // expert share of confirmed, unsettled bookings
	Pending    int64     `json:"pending_cents"`
	Payable    int64     `json:"payable_cents"`
	Paid       int64     `json:"paid_cents"`
	NextPayout time.Time `json:"next_payout"`
	Threshold  int64     `json:"threshold_cents"`
	HasBilling bool      `json:"has_billing"`
	Currency   string    `json:"currency"`
}

// Payout is one transfer of payable earnings to an expert (PAY-6).
type Payout struct {
	ID          string    `json:"id"`
	ExpertID    string    `json:"expert_id"`
	AmountCents int64     `json:"amount_cents"`
	RunDate     string    `json:"run_date"` // platform-local date, YYYY-MM-DD
	At          time.Time `json:"at"`
	GatewayID   string    `json:"gateway_id,omitempty"`
}

// PayoutRun is one payout day's payouts (PAY-6).
type PayoutRun struct {
	RunDate    string   `json:"run_date"` // platform-local date, YYYY-MM-DD
	TotalCents int64    `json:"total_cents"`
	Payouts    []Payout `json:"payouts"`
}

// Flag tells operators an expert's claims escalate too often (CLM-6).
type Flag struct {
	ExpertID    string    `json:"expert_id"`
	Name        string    `json:"name"`
	Escalations int       `json:"escalations"` // within the window
	Since       time.Time `json:"since"`
	Closed      bool      `json:"closed"`
}

// Action is something a user may do on an activity item right now (ACC-4).
type Action struct {
	Name string `json:"name"` // join, cancel, open_claim, respond, accept, reject, decide
	// Consequence of a cancel: "refund" (full refund) or "charge" (full price
	// kept); empty for other actions.
	Consequence string `json:"consequence,omitempty"`
	AmountCents int64  `json:"amount_cents,omitempty"`
}

// ActivityItem is one row of the recent activity column (ACC-4).
type ActivityItem struct {
	Type        string    `json:"type"` // appointment, registration, event, claim, payout
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	Status      string    `json:"status"`
	AmountCents int64     `json:"amount_cents"`
	Counterpart string    `json:"counterpart,omitempty"` // the other party's name
	Room        string    `json:"room,omitempty"`
	Actions     []Action  `json:"actions"`
}
