package messages

import "errors"

// Error codes carried in replies and events. They are stable strings so that
// scripts and older CLIs can branch on them.
const (
	CodeBadRequest   = "bad_request"
	CodeTooLarge     = "too_large"
	CodeUnsupported  = "unsupported_version"
	CodeUnsigned     = "unsigned"
	CodeBadSignature = "bad_signature"
	CodeUnknownKey   = "unknown_key"
	CodeExpired      = "expired"
	CodeNotYetValid  = "not_yet_valid"
	CodeReplayed     = "replayed"
	CodeNotTarget    = "not_target"
	CodeUnknownVerb  = "unknown_verb"
	CodeForbidden    = "forbidden"
	// CodeUnauthenticated means an API request carried no valid operator
	// signature, so the controller cannot tell who sent it.
	CodeUnauthenticated = "unauthenticated"
	CodeConflict        = "conflict"
	CodeNotFound        = "not_found"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
)

// Error is the wire form of a failure. It is also a Go error so decoders and
// the verifier can return it directly.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// CodeOf returns the code of err if it is (or wraps) an *Error, else
// CodeInternal.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// AsError converts any error into a wire error, keeping the code of a
// wrapped *Error.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Message: err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
