package auth

import "fmt"

// Error is why a request could not be authenticated. Code is stable and machine-readable
// (the HTTP layer puts it in extensions.reason); Description is plain words that are safe to
// show the client: it never contains the token or a claim value taken from it.
//
// Compare with errors.Is against the sentinels below (errors.Is(err, auth.ErrExpired)); two
// *Error values match when their codes are equal, whatever the description.
type Error struct {
	Code        string
	Description string
	cause       error // what the JWT library or the key loader said, for logs and errors.Is
}

// Error includes the underlying cause, for logs; clients get Description only.
func (e *Error) Error() string {
	if e.cause == nil {
		return e.Description
	}
	return e.Description + ": " + e.cause.Error()
}

// Unwrap exposes the library's error, so errors.Is(err, jwt.ErrTokenExpired) also works.
func (e *Error) Unwrap() error { return e.cause }

// Is matches any *Error with the same Code, which is what makes the sentinels usable.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The reasons a token is refused. Each is a sentinel for errors.Is; its Code is the
// extensions.reason a client sees.
var (
	ErrMissingToken    = &Error{Code: "missing_token", Description: "no bearer token was presented"}
	ErrMalformedHeader = &Error{Code: "malformed_header", Description: `the Authorization header must be "Bearer <token>"`}
	ErrTooLarge        = &Error{Code: "token_too_large", Description: "the token is larger than this gateway accepts"}
	ErrMalformed       = &Error{Code: "malformed_token", Description: "the token is not a well-formed JWT"}
	ErrAlgorithm       = &Error{Code: "algorithm_not_allowed", Description: "the token's signing algorithm is not accepted for its key"}
	ErrUnknownKey      = &Error{Code: "unknown_key", Description: "the token's key id (kid) names no configured key"}
	ErrBadSignature    = &Error{Code: "bad_signature", Description: "the token's signature does not verify"}
	ErrExpired         = &Error{Code: "expired", Description: "the token has expired; obtain a new one"}
	ErrNotYetValid     = &Error{Code: "not_yet_valid", Description: "the token is not valid yet (nbf is in the future)"}
	ErrIssuedInFuture  = &Error{Code: "issued_in_future", Description: "the token was issued in the future (iat); check the issuer's clock"}
	ErrMissingClaim    = &Error{Code: "missing_claim", Description: "the token lacks a required claim"}
	ErrWrongIssuer     = &Error{Code: "wrong_issuer", Description: "the token was issued by an issuer this gateway does not trust"}
	ErrWrongAudience   = &Error{Code: "wrong_audience", Description: "the token is not meant for this gateway (aud)"}
	ErrUnknownConsumer = &Error{Code: "unknown_consumer", Description: "the token's consumer is not configured on this gateway"}
)

// fail returns a fresh error of kind's code and description, wrapping cause.
func fail(kind *Error, cause error) *Error {
	return &Error{Code: kind.Code, Description: kind.Description, cause: cause}
}

// failf is fail with a more specific description.
func failf(kind *Error, cause error, format string, args ...any) *Error {
	return &Error{Code: kind.Code, Description: fmt.Sprintf(format, args...), cause: cause}
}
