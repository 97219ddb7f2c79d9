package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/ratelimit"
)

// Rate is a token bucket: a steady rate and the burst allowed on top.
type Rate = ratelimit.Rate

// Limits are one consumer's limits: for the whole consumer, and for each of its end
// users (sub), so that a limit meant for one citizen's session never throttles a busy
// service backend, and one noisy user cannot use up the whole app's share.
type Limits struct {
	Consumer Rate
	EndUser  Rate
}

// RateLimiter enforces per-consumer and per-end-user limits on a ratelimit.Limiter: in
// this process's memory, or in Redis shared by every replica (docs/operators.md, "Rate limits").
type RateLimiter struct {
	lim    ratelimit.Limiter
	limits func(consumer string) Limits
	// OnRefused, if set, is told of each refusal: the consumer and the limit reached
	// ("end_user" or "consumer"), for metrics.
	OnRefused func(consumer, limit string)
}

// NewRateLimiter counts on lim the limits that limits returns for each request's caller
// (gateway.CallerFrom).
func NewRateLimiter(lim ratelimit.Limiter, limits func(consumer string) Limits) *RateLimiter {
	return &RateLimiter{lim: lim, limits: limits}
}

// Bucket keys: "c" and "u" then NUL. Other budgets on the same Limiter take other
// leading letters (the budget of distinct people, enforce.LimiterBudget, takes "s").
// Configured consumer names hold no NUL, so a key is unambiguous whatever a token's
// subject holds.
func consumerKey(consumer string) string { return "c\x00" + consumer }
func endUserKey(consumer, sub string) string {
	return "u\x00" + consumer + "\x00" + sub
}

// Middleware refuses requests over either limit with 429 and Retry-After. It runs after
// authentication: the caller decides which buckets apply. The end user's bucket is asked
// first, so a user refused on their own limit spends nothing of the consumer's share.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := gateway.CallerFrom(r.Context())
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		lim := l.limits(c.Consumer)
		which, limit := "your session's", "end_user"
		ok, wait := l.lim.AllowN(r.Context(), endUserKey(c.Consumer, c.Subject), lim.EndUser, 1)
		if ok {
			which, limit = "your application's", "consumer"
			ok, wait = l.lim.AllowN(r.Context(), consumerKey(c.Consumer), lim.Consumer, 1)
		}
		if !ok {
			if l.OnRefused != nil {
				l.OnRefused(c.Consumer, limit)
			}
			secs := max(int(math.Ceil(wait.Seconds())), 1)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			errcode.WriteHTTP(w, errcode.RateLimited,
				fmt.Sprintf("too many requests: %s rate limit is reached; retry after %d s", which, secs), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}
