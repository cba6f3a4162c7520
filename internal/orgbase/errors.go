// Package orgbase is the domain of Orgbase: its types, roles, the authorization
// policy, validation rules and error codes. It imports nothing of ours.
package orgbase

import (
	"errors"
	"fmt"
)

// Error codes. Handlers map them to HTTP statuses in one place.
const (
	ECONFLICT     = "conflict"     // a unique value is taken, or the state forbids the change
	EINTERNAL     = "internal"     // a bug or an unavailable dependency; never shown in detail
	EINVALID      = "invalid"      // the input failed validation; Fields says where
	ENOTFOUND     = "not_found"    // the thing does not exist or the caller may not know it does
	EFORBIDDEN    = "forbidden"    // the caller is known but may not do this
	EUNAUTHORIZED = "unauthorized" // the caller must sign in
	ERATELIMIT    = "rate_limited" // too many attempts; try later
	EEXPIRED      = "expired"      // a token or link is past its expiry, or already used
)

// Error is a domain error: a stable code, a message a person can read, and,
// for EINVALID, a message per form field.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("orgbase error: code=%s message=%s fields=%v", e.Code, e.Message, e.Fields)
	}
	return fmt.Sprintf("orgbase error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is (or wraps) an *Error, "" for
// nil and EINTERNAL for anything else.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err. Errors that are not *Error
// never reach a user: they read a generic message instead.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}

// ErrorFields returns the field messages of an EINVALID error, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
