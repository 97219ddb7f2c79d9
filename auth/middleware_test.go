package auth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
)

// TestMiddlewareHeader covers how the Authorization header itself is read, before any
// token is verified.
func TestMiddlewareHeader(t *testing.T) {
	f := newFixture(t)
	valid := mintFor(t, f.ed, "", Claims{}, time.Now())

	tests := []struct {
		name         string
		header       []string // Authorization values; none: header absent
		wantReason   string   // empty: accepted
		invalidToken bool     // the challenge carries error="invalid_token"
	}{
		{name: "Bearer token", header: []string{"Bearer " + valid}},
		{name: "scheme is case-insensitive", header: []string{"bearer " + valid}},
		{name: "missing header", wantReason: "missing_token"},
		{name: "Basic credentials", header: []string{"Basic dXNlcjpwYXNzd29yZA=="}, wantReason: "malformed_header", invalidToken: true},
		{name: "Bearer with nothing", header: []string{"Bearer"}, wantReason: "malformed_header", invalidToken: true},
		{name: "Bearer with blanks", header: []string{"Bearer    "}, wantReason: "malformed_header", invalidToken: true},
		{name: "two tokens", header: []string{"Bearer " + valid + " " + valid}, wantReason: "malformed_header", invalidToken: true},
		{name: "two headers", header: []string{"Bearer " + valid, "Bearer " + valid}, wantReason: "malformed_header", invalidToken: true},
		{name: "token without scheme", header: []string{valid}, wantReason: "malformed_header", invalidToken: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var seen *gateway.Caller
			h := Middleware(f.all, slog.New(slog.NewJSONHandler(&logs, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = gateway.CallerFrom(r.Context())
				w.WriteHeader(http.StatusNoContent)
			}))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for _, v := range tt.header {
				req.Header.Add("Authorization", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if tt.wantReason == "" {
				if rec.Code != http.StatusNoContent || seen == nil || seen.Subject != "clerk-0042" {
					t.Fatalf("status %d, caller %+v; want the request through with its caller", rec.Code, seen)
				}
				return
			}
			if seen != nil {
				t.Fatal("next handler ran for a refused request")
			}
			assertRefused(t, rec, tt.wantReason, tt.invalidToken)
			assertNoToken(t, valid, rec.Body.String(), logs.String())
		})
	}
}
