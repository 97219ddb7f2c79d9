package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
)

// Realm is the protection space named in WWW-Authenticate challenges.
const Realm = "pudong-gateway"

// Middleware admits only requests with a valid bearer token and puts their Caller in the
// request context. A refused request gets 401 with an RFC 6750 challenge and a
// GraphQL-shaped error body (extensions.code UNAUTHENTICATED, extensions.reason the
// Error's code), so GraphQL clients handle it like any other error. Neither the response
// nor the log ever contains the token.
func Middleware(v *Verifier, log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, err := authenticate(v, r.Header.Values("Authorization"))
			if err != nil {
				refuse(w, r, log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(gateway.WithCaller(r.Context(), caller)))
		})
	}
}

// authenticate extracts the bearer token from the Authorization header values and verifies it.
func authenticate(v *Verifier, header []string) (*gateway.Caller, error) {
	switch len(header) {
	case 0:
		return nil, fail(ErrMissingToken, nil)
	case 1:
	default:
		return nil, failf(ErrMalformedHeader, nil, "only one Authorization header may be sent")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(header[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, fail(ErrMalformedHeader, nil)
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return nil, fail(ErrMalformedHeader, nil)
	}
	return v.Verify(token)
}

// refuse answers 401 for err and logs why, without the token.
func refuse(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok { // Verify returns only *Error; be safe rather than leak an unknown message
		e = fail(ErrMalformed, err)
	}
	challenge := `Bearer realm="` + Realm + `"`
	if !errors.Is(e, ErrMissingToken) {
		challenge += `, error="invalid_token", error_description="` + headerSafe(e.Description) + `"`
	}
	log.LogAttrs(r.Context(), slog.LevelWarn, "authentication refused",
		slog.String("reason", e.Code),
		slog.String("error", e.Error()),
		slog.String("method", r.Method),
		slog.String("path", gateway.Route(r.URL.Path)),
		slog.String("remote", r.RemoteAddr),
	)

	h := w.Header()
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(errcode.Status(errcode.Unauthenticated))
	body := errorBody{Errors: []bodyError{{
		Message:    e.Description,
		Extensions: bodyExtensions{Code: errcode.Unauthenticated, Reason: e.Code},
	}}}
	_ = json.NewEncoder(w).Encode(body) // the status is sent; a broken connection is the client's
}

// headerSafe keeps only the characters RFC 6750 allows in error_description.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}

type errorBody struct {
	Errors []bodyError `json:"errors"`
}

type bodyError struct {
	Message    string         `json:"message"`
	Extensions bodyExtensions `json:"extensions"`
}

type bodyExtensions struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}
