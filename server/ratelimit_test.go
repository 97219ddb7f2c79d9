package server

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/ratelimit"
)

// A session over its own limit is refused without spending its app's share; an app over
// its limit is refused for every session; each refusal says which limit and when to
// come back, and is reported.
func TestRateLimiterMiddleware(t *testing.T) {
	sub := "citizen-0012"
	refused := map[string]int{}
	rl := NewRateLimiter(ratelimit.NewLocal(100), func(string) Limits {
		return Limits{EndUser: Rate{PerSecond: 0.01, Burst: 2}, Consumer: Rate{PerSecond: 0.01, Burst: 3}}
	})
	rl.OnRefused = func(consumer, limit string) { refused[consumer+"/"+limit]++ }
	h := rl.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		h.ServeHTTP(w, r.WithContext(gateway.WithCaller(r.Context(), &gateway.Caller{Consumer: "ipudong-portal", Subject: sub})))
		return w
	}
	for i := range 2 {
		if w := do(); w.Code != http.StatusOK {
			t.Fatalf("request %d within the session's burst: %d", i, w.Code)
		}
	}
	for range 3 {
		w := do()
		if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != http.StatusTooManyRequests || ra < 1 {
			t.Fatalf("over the session's limit: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	}
	sub = "citizen-0029"
	if w := do(); w.Code != http.StatusOK {
		t.Fatalf("the refused session spent nothing of the app's share of 3: %d", w.Code)
	}
	sub = "citizen-0037"
	if w := do(); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the app's fourth request: %d", w.Code)
	}
	if refused["ipudong-portal/end_user"] != 3 || refused["ipudong-portal/consumer"] != 1 {
		t.Errorf("refusals reported: %v", refused)
	}
}
