package api

import (
	"time"

	"atlas11/control"
)

// requestExamples holds one valid request body per operation that takes one,
// by operationId. The OpenAPI document publishes them, a test decodes each
// with the strict decoder, and the fuzz targets start from them.
func requestExamples() map[string]any {
	start := time.Date(2027, 1, 15, 9, 0, 0, 0, time.UTC)
	text := func(s string) *string { return &s }
	no := false
	eventCap := 20
	return map[string]any{
		"signUp": signUpReq{Email: "claire@example.com", Password: "prise-de-parole-42", Name: "Claire Martin",
			Role: control.RoleExpert, Locale: "fr", TimeZone: "Europe/Paris"},
		"signIn":               signInReq{Email: "claire@example.com", Password: "prise-de-parole-42"},
		"requestPasswordReset": resetRequestReq{Email: "claire@example.com"},
		"confirmPasswordReset": resetConfirmReq{Token: "c2VjcmV0LXJlc2V0LXRva2VuLWZyb20tdGhlLW1haWw", Password: "une-voix-posee-2027"},
		"verifyEmail":          verifyEmailReq{Token: "c2VjcmV0LXZlcmlmeS10b2tlbi1mcm9tLXRoZS1tYWls"},
		"changeEmail":          changeEmailReq{Email: "claire.martin@example.org", Password: "prise-de-parole-42"},
		"updatePreferences":    control.Preferences{Locale: text("en"), TimeZone: text("America/New_York"), Reminders: &no},
		"updateProfile": control.ProfileUpdate{Headline: text("Coach en prise de parole"),
			Bio: text("Quinze ans de formation à l'oral."), Languages: []string{"fr", "en"},
			TimeZone: text("Europe/Paris"), Slug: text("claire-martin"),
			Billing: &control.BillingDetails{HolderName: "Claire Martin", IBAN: "FR76 3000 6000 0112 3456 7890 189", Country: "FR"}},
		"addRule": ruleReq{Weekday: time.Monday, StartTime: "09:00", EndTime: "12:00", SlotMinutes: 60, PriceCents: 4000,
			Media: []control.MediaKind{control.MediaVideo, control.MediaAudio}, TimeZone: "Europe/Paris"},
		"addSlot": control.OneOffSlot{Start: start, Minutes: 60, PriceCents: 4000, Media: []control.MediaKind{control.MediaVideo}},
		"book":    bookReq{SlotID: "s2al64gmbbzfwzqgoowyr4ibcts", Media: control.MediaVideo},
		"createEvent": control.NewEvent{Title: "Atelier : parler en public", Description: "Deux heures pour oser prendre la parole.",
			Start: start.Add(48 * time.Hour), Minutes: 90, PriceCents: 2500, MinParticipants: 3, MaxParticipants: 10},
		"reportPresence": presenceReq{Room: "b2al64gmbbzfwzqgoowyr4ibcts", User: "u2al64gmbbzfwzqgoowyr4ibcts", Joined: true,
			At: start.Add(time.Minute)},
		"openClaim":      claimReq{BookingID: "b2al64gmbbzfwzqgoowyr4ibcts", Reason: "L'expert ne s'est pas connecté."},
		"respondClaim":   respondReq{Kind: control.RespondPartialRefund, AmountCents: 2000, Message: "La connexion a coupé au milieu."},
		"decideClaim":    decideReq{RefundCents: 2000, Message: "La moitié de la séance a eu lieu."},
		"setEventCap":    eventCapReq{EventCap: 49},
		"updateSettings": control.RuntimeSettings{EventCap: &eventCap, MinPrices: &control.MinPrices{Video: 1500, Audio: 1000, Chat: 500, Event: 1000}},
		"moveSimClock":   simClockReq{Advance: "72h"},
	}
}
