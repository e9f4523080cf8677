package web

import "net/http"

// CSP is the Content-Security-Policy of every answer of the main listener.
// Scripts and styles come from this origin only (no inline code, no eval),
// so injected markup cannot run; connect-src 'self' covers the same-origin
// signaling WebSocket (ws: and wss: on this host); media plays from
// MediaStreams, which CSP does not govern; nobody may frame the app.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; media-src 'self' blob:; manifest-src 'self'; " +
	"form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

// PermissionsPolicy gives the camera, the microphone and screen capture to
// this origin only (never to a frame or another site) and switches off
// powerful features the app does not use.
const PermissionsPolicy = "camera=(self), microphone=(self), display-capture=(self), " +
	"geolocation=(), payment=(), usb=(), serial=(), hid=(), midi=()"

// SecurityHeaders sets the browser security headers on every answer of h:
// API, app files, redirects, errors and 404s alike. They are set before h
// runs so every path, including a handler's own error page, carries them.
func SecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: with no-referrer a browser sends
		// "Origin: null" on a POST, and the API's CSRF check reads Origin
		// where Sec-Fetch-Site is not sent (plain HTTP off loopback).
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Permissions-Policy", PermissionsPolicy)
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}
