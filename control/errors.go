package control

import (
	"errors"
	"fmt"
)

// Kind classifies an Error so that each transport maps it once (HTTP status,
// WebSocket close reason). Callers branch on Kind and Code, never on text.
type Kind string

// Error kinds. The HTTP status each one maps to is given for the API layer.
const (
	Invalid      Kind = "invalid"      // 400: malformed or out-of-range input
	Unauthorized Kind = "unauthorized" // 401: not signed in, bad or expired credential
	Forbidden    Kind = "forbidden"    // 403: signed in but not allowed on this object
	NotFound     Kind = "not_found"    // 404
	Conflict     Kind = "conflict"     // 409: state changed under the caller (slot taken, duplicate)
	Rule         Kind = "rule"         // 422: a product rule refused the request
	RateLimited  Kind = "rate_limited" // 429
	Unavailable  Kind = "unavailable"  // 503: a dependency is down for now; the client may retry
	Internal     Kind = "internal"     // 500: a bug or a failed dependency
)

// ErrStorageUnavailable marks a store write that failed for a reason of the
// machine, not of the request: a full disk, a read-only file system, an I/O
// error. Stores wrap such failures with it; the service answers them as
// Unavailable "storage_unavailable" so clients retry later, and the detail
// (paths, errno) stays in the logs.
var ErrStorageUnavailable = errors.New("storage unavailable")

// StorageUnavailable is the client-facing error for ErrStorageUnavailable.
func StorageUnavailable() *Error {
	return &Error{Kind: Unavailable, Code: "storage_unavailable", Message: "storage is temporarily unavailable, try again later"}
}

// Error is the single error type of the domain. Code is a specific snake_case
// identifier (slot_taken, price_below_minimum, ...) stable across releases;
// Field names the offending input field when there is one.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an *Error.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// fieldErr builds an Invalid error about one input field.
func fieldErr(field, code, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: code, Message: fmt.Sprintf(format, args...), Field: field}
}

// ErrorKind returns the Kind of err, Internal for errors that are not *Error
// and "" for nil.
func ErrorKind(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// ErrorCode returns the Code of err, "internal" for errors that are not *Error
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "internal"
}

// ErrorMessage returns a message safe to show to a user: the Message of an
// *Error, a generic text for anything else (internal details stay in logs).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the Field of err when it is an *Error.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
