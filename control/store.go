package control

// Store is the narrow transactional key-value store the domain needs. bbolt
// implements it (control/bolt); a distributed store can replace it later
// without touching the rules.
//
// Update may run fn more than once (bbolt Batch retries a failed batch one
// function at a time), so fn must have no side effects outside tx. Returning an
// error from fn rolls the transaction back.
type Store interface {
	View(fn func(Tx) error) error
	Update(fn func(Tx) error) error
}

// Tx is one transaction. Byte slices passed to fn by Get and Scan are valid
// only until the transaction ends unless the implementation documents that it
// copies them (control/bolt copies).
type Tx interface {
	// Get returns the value of key, or nil when absent.
	Get(bucket string, key []byte) []byte
	Put(bucket string, key, val []byte) error
	Delete(bucket string, key []byte) error
	// Scan calls fn for each key k with from <= k < to in ascending order.
	// A nil to means no upper bound. fn returning ErrStopScan ends the scan
	// without error.
	Scan(bucket string, from, to []byte, fn func(k, v []byte) error) error
}

// ErrStopScan ends a Scan early without error.
var ErrStopScan = &Error{Kind: Internal, Code: "stop_scan", Message: "scan stopped"}

// Bucket names used by the domain. A Store creates them all when it opens.
const (
	bUsers     = "users"            // userID -> User
	bEmails    = "emails"           // normalized email -> userID
	bSessions  = "sessions"         // sha256(token) -> session
	bProfiles  = "profiles"         // expertID -> ExpertProfile
	bSlugs     = "slugs"            // slug -> expertID
	bRules     = "rules"            // ruleID -> AvailabilityRule
	bExpRules  = "exp_rules"        // expertID/ruleID -> ""
	bSlots     = "slots"            // one-off slotID -> Slot
	bExpSlots  = "exp_slots"        // expertID/startBE/slotID -> ""
	bSlotBook  = "slot_book"        // slotID -> bookingID (active or held)
	bSched     = "sched"            // expertID/startBE/itemID -> endBE: busy time of an expert
	bBookings  = "bookings"         // bookingID -> Booking
	bUserItems = "user_items"       // userID/startBE/bookingID -> "" (client side)
	bEvents    = "events"           // eventID -> Event
	bExpEvents = "exp_events"       // expertID/startBE/eventID -> ""
	bEventRegs = "event_regs"       // eventID/bookingID -> clientID
	bClaims    = "claims"           // claimID -> Claim
	bUserClaim = "user_claims"      // userID/claimID -> "" (client and expert)
	bEscal     = "escalations"      // expertID/atBE/claimID -> ""
	bOpenEsc   = "open_escalations" // claimID -> "" (operator queue)
	bPresence  = "presence"         // room/atBE/nonce -> PresenceEvent
	bJournal   = "journal"          // seqBE -> Transfer (append only)
	bBalances  = "balances"         // account -> int64 BE, derived from the journal
	bIdem      = "idem"             // scope/key -> result
	bOutbox    = "outbox"           // callID -> gateway call still to make
	bDue       = "due"              // atBE/kind/id -> "": background work queue
	bPayouts   = "payouts"          // payoutID -> Payout
	bExpPay    = "exp_payouts"      // expertID/atBE/payoutID -> ""
	bMeta      = "meta"             // settings overrides, counters, job markers
	bJobFail   = "job_failures"     // kind/id -> FailedJob: retried or dead-lettered work
	bNotices   = "notices"          // noticeID -> Notice: e-mails owed, with their delivery state
	bNoticeQ   = "notice_queue"     // nextAttemptBE/noticeID -> "": notices to send
	bCalFeeds  = "calendar_feeds"   // sha256(feed token) -> userID
	bResets    = "password_resets"  // sha256(reset token) -> resetToken
	bVerify    = "email_tokens"     // sha256(verification token) -> verifyToken
)

// Buckets lists every bucket the domain uses, for a Store to create at open.
func Buckets() []string {
	return []string{bUsers, bEmails, bSessions, bProfiles, bSlugs, bRules, bExpRules,
		bSlots, bExpSlots, bSlotBook, bSched, bBookings, bUserItems, bEvents, bExpEvents,
		bEventRegs, bClaims, bUserClaim, bEscal, bOpenEsc, bPresence, bJournal, bBalances,
		bIdem, bOutbox, bDue, bPayouts, bExpPay, bMeta, bJobFail, bNotices, bNoticeQ, bCalFeeds, bResets, bVerify}
}
