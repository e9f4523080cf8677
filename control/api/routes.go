package api

import (
	"net/http"

	"atlas11/control"
)

// access is who may call a route.
type access int

const (
	public   access = iota // anyone
	signedIn               // any signed-in user
	expert                 // signed-in experts
	client                 // signed-in clients
	operator               // signed-in operators
	internal               // services holding Deps.InternalSecret
)

// route is one API operation. The same table registers the gin handlers and
// builds the OpenAPI document, so the two cannot drift apart.
type route struct {
	Method  string
	Path    string // gin syntax, relative to Prefix
	ID      string // OpenAPI operationId
	Summary string
	Access  access
	// Idem: the request moves money and needs an Idempotency-Key header.
	Idem   bool
	Query  []string // optional string query parameters
	Body   any      // request body (a zero value of its type), nil: none
	Resp   any      // response body (a zero value), nil: 204 No Content
	Status int      // success status
	Handle func(s *server, r *request) (any, error)
}

// Special response bodies.
type (
	binaryBody   struct{} // application/octet-stream download
	openAPIBody  struct{} // the OpenAPI document itself
	calendarBody struct{} // text/calendar (RFC 5545)
)

// routes is the whole API.
func routes() []route {
	return []route{
		// Accounts (ACC-1, ACC-4)
		{Method: "POST", Path: "/auth/signup", ID: "signUp", Summary: "Create a client or expert account (becoming an expert is free, ACC-1) and sign in",
			Access: public, Body: signUpReq{}, Resp: meView{}, Status: http.StatusCreated, Handle: (*server).signUp},
		{Method: "POST", Path: "/auth/signin", ID: "signIn", Summary: "Sign in; failed attempts are rate-limited per email and per IP",
			Access: public, Body: signInReq{}, Resp: meView{}, Status: http.StatusOK, Handle: (*server).signIn},
		{Method: "POST", Path: "/auth/password-reset", ID: "requestPasswordReset", Summary: "Mail a single-use reset link, valid one hour, to the account of an address (the same answer whether or not it exists)",
			Access: public, Body: resetRequestReq{}, Status: http.StatusAccepted, Handle: (*server).requestReset},
		{Method: "POST", Path: "/auth/password-reset/confirm", ID: "confirmPasswordReset", Summary: "Set a new password from a reset link; every other session of the account ends",
			Access: public, Body: resetConfirmReq{}, Resp: meView{}, Status: http.StatusOK, Handle: (*server).confirmReset},
		{Method: "POST", Path: "/auth/verify-email", ID: "verifyEmail", Summary: "Follow a mailed verification link: the address is proved and, for a change, becomes the account's",
			Access: public, Body: verifyEmailReq{}, Resp: meView{}, Status: http.StatusOK, Handle: (*server).verifyEmail},
		{Method: "POST", Path: "/me/email", ID: "changeEmail", Summary: "Move the account to another address: a link is mailed there, and the change happens when it is followed",
			Access: signedIn, Body: changeEmailReq{}, Status: http.StatusAccepted, Handle: (*server).changeEmail},
		{Method: "POST", Path: "/auth/signout", ID: "signOut", Summary: "End the current session",
			Access: public, Status: http.StatusNoContent, Handle: (*server).signOut},
		{Method: "GET", Path: "/me", ID: "me", Summary: "The signed-in user and the support address",
			Access: signedIn, Resp: meView{}, Status: http.StatusOK, Handle: (*server).me},
		{Method: "PATCH", Path: "/me", ID: "updatePreferences", Summary: "The caller's e-mail language and time zone, and whether they get reminders",
			Access: signedIn, Body: control.Preferences{}, Resp: meView{}, Status: http.StatusOK, Handle: (*server).updatePreferences},
		{Method: "GET", Path: "/me/activity", ID: "activity", Summary: "Recent activity with the actions each item allows now (ACC-4)",
			Access: signedIn, Resp: []control.ActivityItem{}, Status: http.StatusOK, Handle: (*server).activity},

		// Expert profile and availability (ACC-2, APT-1, TIME-1)
		{Method: "GET", Path: "/me/profile", ID: "myProfile", Summary: "The signed-in expert's full profile, billing included",
			Access: expert, Resp: control.ExpertProfile{}, Status: http.StatusOK, Handle: (*server).myProfile},
		{Method: "PATCH", Path: "/me/profile", ID: "updateProfile", Summary: "Edit the signed-in expert's profile",
			Access: expert, Body: control.ProfileUpdate{}, Resp: control.ExpertProfile{}, Status: http.StatusOK, Handle: (*server).updateProfile},
		{Method: "GET", Path: "/me/availability-rules", ID: "myRules", Summary: "The signed-in expert's weekly availability rules",
			Access: expert, Resp: []control.AvailabilityRule{}, Status: http.StatusOK, Handle: (*server).myRules},
		{Method: "POST", Path: "/me/availability-rules", ID: "addRule", Summary: "Publish a weekly availability rule in the expert's time zone",
			Access: expert, Body: ruleReq{}, Resp: control.AvailabilityRule{}, Status: http.StatusCreated, Handle: (*server).addRule},
		{Method: "DELETE", Path: "/me/availability-rules/:id", ID: "deleteRule", Summary: "Remove a rule; booked slots stay booked",
			Access: expert, Status: http.StatusNoContent, Handle: (*server).deleteRule},
		{Method: "POST", Path: "/me/slots", ID: "addSlot", Summary: "Publish one bookable one-off slot",
			Access: expert, Body: control.OneOffSlot{}, Resp: control.Slot{}, Status: http.StatusCreated, Handle: (*server).addSlot},
		{Method: "DELETE", Path: "/me/slots/:id", ID: "deleteSlot", Summary: "Remove an unbooked one-off slot",
			Access: expert, Status: http.StatusNoContent, Handle: (*server).deleteSlot},
		{Method: "GET", Path: "/experts/:ref", ID: "publicProfile", Summary: "An expert's public page by slug or ID, with bookable slots and upcoming events (ACC-2)",
			Access: public, Resp: control.PublicProfile{}, Status: http.StatusOK, Handle: (*server).publicProfile},
		{Method: "GET", Path: "/experts/:ref/slots", ID: "listSlots", Summary: "Free slots of an expert starting in [from, to)",
			Access: public, Query: []string{"from", "to"}, Resp: []control.Slot{}, Status: http.StatusOK, Handle: (*server).listSlots},
		{Method: "GET", Path: "/experts/:ref/events", ID: "listEvents", Summary: "Events of an expert starting in [from, to)",
			Access: public, Query: []string{"from", "to"}, Resp: []control.Event{}, Status: http.StatusOK, Handle: (*server).listEvents},
		{Method: "GET", Path: "/experts/:ref/earnings", ID: "earnings", Summary: "Escrow, pending, payable and paid earnings (PAY-5, PAY-6)",
			Access: signedIn, Resp: control.Earnings{}, Status: http.StatusOK, Handle: (*server).earnings},
		{Method: "GET", Path: "/experts/:ref/payouts", ID: "payouts", Summary: "Payouts of an expert (PAY-6)",
			Access: signedIn, Resp: []control.Payout{}, Status: http.StatusOK, Handle: (*server).payouts},

		// Appointments (APT-2..7)
		{Method: "POST", Path: "/bookings", ID: "book", Summary: "Book a slot and pay its price (APT-2..4, PAY-1)",
			Access: client, Idem: true, Body: bookReq{}, Resp: control.Booking{}, Status: http.StatusCreated, Handle: (*server).book},
		{Method: "GET", Path: "/bookings", ID: "listBookings", Summary: "The caller's bookings starting in [from, to)",
			Access: signedIn, Query: []string{"from", "to"}, Resp: []control.Booking{}, Status: http.StatusOK, Handle: (*server).listBookings},
		{Method: "GET", Path: "/bookings/:id", ID: "getBooking", Summary: "One booking, to its client, its expert or an operator",
			Access: signedIn, Resp: control.Booking{}, Status: http.StatusOK, Handle: (*server).getBooking},
		{Method: "POST", Path: "/bookings/:id/cancel", ID: "cancelBooking", Summary: "Cancel an appointment or registration (APT-5, APT-6, EVT-8)",
			Access: signedIn, Idem: true, Resp: control.Booking{}, Status: http.StatusOK, Handle: (*server).cancelBooking},

		// Events (EVT-1..8)
		{Method: "POST", Path: "/events", ID: "createEvent", Summary: "Create a group event (EVT-1..3)",
			Access: expert, Body: control.NewEvent{}, Resp: control.Event{}, Status: http.StatusCreated, Handle: (*server).createEvent},
		{Method: "GET", Path: "/events/:id", ID: "getEvent", Summary: "One event",
			Access: public, Resp: control.Event{}, Status: http.StatusOK, Handle: (*server).getEvent},
		{Method: "POST", Path: "/events/:id/register", ID: "register", Summary: "Register to an event and pay (EVT-4)",
			Access: client, Idem: true, Resp: control.Booking{}, Status: http.StatusCreated, Handle: (*server).register},
		{Method: "GET", Path: "/events/:id/registrations", ID: "registrations", Summary: "Registrations of an event, to its expert and operators",
			Access: signedIn, Resp: []control.Booking{}, Status: http.StatusOK, Handle: (*server).registrations},
		{Method: "POST", Path: "/events/:id/cancel", ID: "cancelEvent", Summary: "Cancel an event before it starts; everyone is refunded (EVT-8)",
			Access: expert, Idem: true, Resp: control.Event{}, Status: http.StatusOK, Handle: (*server).cancelEvent},

		// Calls (CALL-1, CALL-3)
		{Method: "POST", Path: "/calls/:room/token", ID: "callToken", Summary: "A short-lived admission to a call room with the signaling URL and ICE servers (CALL-1)",
			Access: signedIn, Resp: callTokenView{}, Status: http.StatusOK, Handle: (*server).callToken},
		{Method: "GET", Path: "/calls/:room/presence/:user", ID: "presence", Summary: "A user's merged presence in a room, as evidence (CALL-3)",
			Access: signedIn, Resp: control.PresenceReport{}, Status: http.StatusOK, Handle: (*server).presence},
		{Method: "POST", Path: "/internal/presence", ID: "reportPresence", Summary: "A join or leave from the media server (bearer InternalSecret)",
			Access: internal, Body: presenceReq{}, Status: http.StatusNoContent, Handle: (*server).reportPresence},

		// Claims (CLM-1..6)
		{Method: "POST", Path: "/claims", ID: "openClaim", Summary: "Open a claim on a booking within 72 h of its end (CLM-1, CLM-2)",
			Access: client, Body: claimReq{}, Resp: control.Claim{}, Status: http.StatusCreated, Handle: (*server).openClaim},
		{Method: "GET", Path: "/claims", ID: "listClaims", Summary: "The caller's claims; for operators the escalated ones",
			Access: signedIn, Resp: []control.Claim{}, Status: http.StatusOK, Handle: (*server).listClaims},
		{Method: "GET", Path: "/claims/:id", ID: "getClaim", Summary: "One claim with the expert's presence as evidence",
			Access: signedIn, Resp: control.Claim{}, Status: http.StatusOK, Handle: (*server).getClaim},
		{Method: "POST", Path: "/claims/:id/respond", ID: "respondClaim", Summary: "The expert refunds fully, partly, or declines (CLM-3, CLM-4)",
			Access: expert, Idem: true, Body: respondReq{}, Resp: control.Claim{}, Status: http.StatusOK, Handle: (*server).respondClaim},
		{Method: "POST", Path: "/claims/:id/accept", ID: "acceptClaim", Summary: "The client accepts the response: resolved (CLM-4)",
			Access: client, Resp: control.Claim{}, Status: http.StatusOK, Handle: (*server).acceptClaim},
		{Method: "POST", Path: "/claims/:id/reject", ID: "rejectClaim", Summary: "The client rejects the response: escalated (CLM-5)",
			Access: client, Resp: control.Claim{}, Status: http.StatusOK, Handle: (*server).rejectClaim},
		{Method: "POST", Path: "/claims/:id/decide", ID: "decideClaim", Summary: "An operator decides an escalated claim (CLM-5)",
			Access: operator, Idem: true, Body: decideReq{}, Resp: control.Claim{}, Status: http.StatusOK, Handle: (*server).decideClaim},

		// Operators (ACC-3, CLM-6, EVT-2, PAY-3)
		{Method: "GET", Path: "/operator/flags", ID: "flags", Summary: "Experts whose claims escalate too often (CLM-6)",
			Access: operator, Resp: []control.Flag{}, Status: http.StatusOK, Handle: (*server).flags},
		{Method: "POST", Path: "/operator/users/:id/close", ID: "closeAccount", Summary: "Close an account; a closed expert's future items are cancelled and refunded (ACC-3)",
			Access: operator, Status: http.StatusNoContent, Handle: (*server).closeAccount},
		{Method: "GET", Path: "/operator/experts/:id/profile", ID: "expertProfile", Summary: "An expert's full profile",
			Access: operator, Resp: control.ExpertProfile{}, Status: http.StatusOK, Handle: (*server).expertProfile},
		{Method: "PUT", Path: "/operator/experts/:id/event-cap", ID: "setEventCap", Summary: "Raise or lower one expert's event cap, never above the media server's limit (EVT-2)",
			Access: operator, Body: eventCapReq{}, Status: http.StatusNoContent, Handle: (*server).setEventCap},
		{Method: "GET", Path: "/operator/payouts", ID: "payoutRuns", Summary: "Every payout run, newest first, with its payouts and total (PAY-6)",
			Access: operator, Resp: []control.PayoutRun{}, Status: http.StatusOK, Handle: (*server).payoutRuns},
		{Method: "GET", Path: "/operator/jobs", ID: "jobs", Summary: "The background queue's depth and age, and every job that failed: retrying, or dead-lettered for an operator",
			Access: operator, Resp: jobsView{}, Status: http.StatusOK, Handle: (*server).jobs},
		{Method: "POST", Path: "/operator/jobs/:id/retry", ID: "retryJob", Summary: "Run a failed job again now, with a fresh series of attempts",
			Access: operator, Resp: control.FailedJob{}, Status: http.StatusOK, Handle: (*server).retryJob},
		{Method: "POST", Path: "/operator/jobs/:id/resolve", ID: "resolveJob", Summary: "Drop a failed job handled by other means; it never runs again",
			Access: operator, Status: http.StatusNoContent, Handle: (*server).resolveJob},
		{Method: "GET", Path: "/operator/notices", ID: "notices", Summary: "E-mails owed and their delivery, newest first; filter by state (queued, retrying, sent, failed) or user",
			Access: operator, Query: []string{"state", "user"}, Resp: []control.Notice{}, Status: http.StatusOK, Handle: (*server).notices},
		{Method: "GET", Path: "/operator/notices/:id", ID: "notice", Summary: "One e-mail with its delivery state and the text its recipient reads",
			Access: operator, Resp: noticeView{}, Status: http.StatusOK, Handle: (*server).notice},
		{Method: "POST", Path: "/operator/notices/:id/resend", ID: "resendNotice", Summary: "Send a failed e-mail again, with a fresh series of attempts",
			Access: operator, Resp: control.Notice{}, Status: http.StatusOK, Handle: (*server).resendNotice},
		{Method: "GET", Path: "/bookings/:id/calendar.ics", ID: "bookingCalendar", Summary: "One booking as an iCalendar file, to add to a calendar",
			Access: signedIn, Resp: calendarBody{}, Status: http.StatusOK, Handle: (*server).bookingCalendar},
		{Method: "POST", Path: "/me/calendar-feed", ID: "newCalendarFeed", Summary: "A new private calendar feed URL of the caller's appointments and events; the previous one stops working",
			Access: signedIn, Resp: calendarFeedView{}, Status: http.StatusCreated, Handle: (*server).newCalendarFeed},
		{Method: "DELETE", Path: "/me/calendar-feed", ID: "revokeCalendarFeed", Summary: "Revoke the caller's calendar feed",
			Access: signedIn, Status: http.StatusNoContent, Handle: (*server).revokeCalendarFeed},
		{Method: "GET", Path: "/calendar/:file", ID: "calendarFeed", Summary: "A private calendar feed (the file is <token>.ics), to subscribe to from a calendar app",
			Access: public, Resp: calendarBody{}, Status: http.StatusOK, Handle: (*server).calendarFeed},
		{Method: "GET", Path: "/settings", ID: "publicSettings", Summary: "The rules' current values (minimum prices, cap, windows, payout days, support address), for the screens",
			Access: public, Resp: control.Settings{}, Status: http.StatusOK, Handle: (*server).settings},
		{Method: "GET", Path: "/operator/settings", ID: "settings", Summary: "Effective settings",
			Access: operator, Resp: control.Settings{}, Status: http.StatusOK, Handle: (*server).settings},
		{Method: "PATCH", Path: "/operator/settings", ID: "updateSettings", Summary: "Change the event cap and minimum prices for new bookings (EVT-2, PAY-3)",
			Access: operator, Body: control.RuntimeSettings{}, Resp: control.Settings{}, Status: http.StatusOK, Handle: (*server).updateSettings},
		{Method: "GET", Path: "/operator/backup", ID: "backup", Summary: "Download a consistent hot backup of the data file",
			Access: operator, Resp: binaryBody{}, Status: http.StatusOK, Handle: (*server).downloadBackup},

		// Simulation clock (--clock=sim only)
		{Method: "GET", Path: "/sim/clock", ID: "simClock", Summary: "The simulated time (404 sim_clock_disabled unless --clock=sim)",
			Access: operator, Resp: simClockView{}, Status: http.StatusOK, Handle: (*server).simClock},
		{Method: "POST", Path: "/sim/clock", ID: "moveSimClock", Summary: "Move the simulated time forward, then run the work due",
			Access: operator, Body: simClockReq{}, Resp: simClockView{}, Status: http.StatusOK, Handle: (*server).moveSimClock},

		{Method: "GET", Path: "/openapi.json", ID: "openapi", Summary: "This document",
			Access: public, Resp: openAPIBody{}, Status: http.StatusOK, Handle: (*server).openAPI},
	}
}
