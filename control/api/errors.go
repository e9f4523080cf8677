package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"atlas11/control"

	"github.com/gin-gonic/gin"
)

// Kinds that only exist at the HTTP edge. They join the domain kinds in the
// single status table below.
const (
	kindTooLarge         control.Kind = "too_large"
	kindUnsupportedMedia control.Kind = "unsupported_media_type"
	kindMethodNotAllowed control.Kind = "method_not_allowed"
	kindUnavailable                   = control.Unavailable
)

// unavailableRetry is what a 503 asks the client to wait unless its
// handler said otherwise.
const unavailableRetry = 10 * time.Second

// statusOf is THE table mapping an error kind to its HTTP status (a switch
// rather than a map so the package holds no mutable state). Nothing else in
// the package chooses an error status.
func statusOf(k control.Kind) int {
	switch k {
	case control.Invalid:
		return http.StatusBadRequest
	case control.Unauthorized:
		return http.StatusUnauthorized
	case control.Forbidden:
		return http.StatusForbidden
	case control.NotFound:
		return http.StatusNotFound
	case control.Conflict:
		return http.StatusConflict
	case control.Rule:
		return http.StatusUnprocessableEntity
	case control.RateLimited:
		return http.StatusTooManyRequests
	case kindTooLarge:
		return http.StatusRequestEntityTooLarge
	case kindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case kindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case kindUnavailable:
		return http.StatusServiceUnavailable
	default: // control.Internal and anything unknown
		return http.StatusInternalServerError
	}
}

// ErrorBody is the single error shape of the API.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of ErrorBody. RequestID is set on every error
// (and in X-Request-ID): the access log line, and for a 5xx the error log
// line with the detail, carry the same ID.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// apiErr builds an error of the edge; domain errors pass through unchanged.
func apiErr(kind control.Kind, code, field, msg string) *control.Error {
	return &control.Error{Kind: kind, Code: code, Message: msg, Field: field}
}

// statusFor returns the HTTP status of err through the table.
func statusFor(err error) int {
	return statusOf(control.ErrorKind(err))
}

// writeError answers with the error shape. A 5xx is logged with its detail
// and the request ID; a 500 tells the client nothing but that ID, since its
// message may hold paths or a dependency's words. A 503 keeps its code and
// message, written for users, and asks the client to retry later.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	st := statusFor(err)
	body := ErrorBody{Error: ErrorDetail{
		Code:    control.ErrorCode(err),
		Message: control.ErrorMessage(err),
		Field:   control.ErrorField(err),
	}}
	id := requestID(c)
	body.Error.RequestID = id
	if st >= 500 {
		log.Error("request failed", "request_id", id, "client", c.ClientIP(), "route", c.FullPath(), "method", c.Request.Method,
			"status", st, "err", err)
		body.Error.Field = ""
		if st == http.StatusServiceUnavailable {
			if c.Writer.Header().Get("Retry-After") == "" {
				retryAfter(c, unavailableRetry)
			}
		} else {
			body.Error.Code, body.Error.Message = "internal", "internal error"
		}
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(st, body)
}

// requestIDKey holds the request's ID in the gin context.
const requestIDKey = "atlas11.request_id"

// requestID returns the ID observe gave the request.
func requestID(c *gin.Context) string {
	if id := c.GetString(requestIDKey); id != "" {
		return id
	}
	return newRequestID(c)
}

// newRequestID names the request for the client (X-Request-ID) and the
// logs. It is generated here, never taken from the client, so a log line
// cannot be forged into another request's.
func newRequestID(c *gin.Context) string {
	var id string
	if info := requestInfoOf(c.Request.Context()); info != nil && info.ID != "" {
		id = info.ID // named by the binary, which logs it
	} else {
		id = NewRequestID()
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	return id
}

// NewRequestID returns a fresh random request ID (24 hex digits).
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
