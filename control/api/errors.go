package api

import (
	"errors"
	"log/slog"
	"net/http"

	"atlas11/control"

	"github.com/gin-gonic/gin"
)

// Kinds that only exist at the HTTP edge. They join the domain kinds in the
// single status table below.
const (
	kindTooLarge         control.Kind = "too_large"
	kindUnsupportedMedia control.Kind = "unsupported_media_type"
	kindMethodNotAllowed control.Kind = "method_not_allowed"
	kindUnavailable      control.Kind = "unavailable"
)

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

// ErrorDetail is the content of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// apiErr builds an error of the edge; domain errors pass through unchanged.
func apiErr(kind control.Kind, code, field, msg string) *control.Error {
	return &control.Error{Kind: kind, Code: code, Message: msg, Field: field}
}

// statusFor returns the HTTP status of err through the table.
func statusFor(err error) int {
	return statusOf(control.ErrorKind(err))
}

// writeError answers with the error shape. Internal errors are logged with
// their detail and answered with a generic message.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	st := statusFor(err)
	body := ErrorBody{Error: ErrorDetail{
		Code:    control.ErrorCode(err),
		Message: control.ErrorMessage(err),
		Field:   control.ErrorField(err),
	}}
	var ce *control.Error
	if st >= 500 {
		log.Error("request failed", "route", c.FullPath(), "method", c.Request.Method, "err", err)
		if !errors.As(err, &ce) {
			body.Error.Code, body.Error.Message = "internal", "internal error"
		}
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(st, body)
}
