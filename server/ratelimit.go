package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/errcode"
)

// Rate is a token bucket: a steady rate and the burst allowed on top.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Limits are one consumer's limits: for the whole consumer, and for each of its end
// users (sub), so that a limit meant for one citizen's session never throttles a busy
// service backend, and one noisy user cannot use up the whole app's share.
type Limits struct {
	Consumer Rate
	EndUser  Rate
}

// RateLimiter enforces per-consumer and per-end-user limits.
type RateLimiter struct {
	limits func(consumer string) Limits
	mu     sync.Mutex
	byCons map[string]*rate.Limiter
	byUser *lru.Cache[string, *rate.Limiter]
}

// NewRateLimiter keeps at most maxUsers end-user buckets (least recently used go
// first, which only ever lets a forgotten user start with a full bucket).
func NewRateLimiter(limits func(consumer string) Limits, maxUsers int) *RateLimiter {
	users, _ := lru.New[string, *rate.Limiter](maxUsers)
	return &RateLimiter{limits: limits, byCons: map[string]*rate.Limiter{}, byUser: users}
}

func newLimiter(r Rate) *rate.Limiter {
	if r.PerSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r.PerSecond), max(r.Burst, 1))
}

// Middleware refuses requests over either limit with 429 and Retry-After. It runs after
// authentication: the caller decides which buckets apply.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := gateway.CallerFrom(r.Context())
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		lim := l.limits(c.Consumer)
		l.mu.Lock()
		cl, ok := l.byCons[c.Consumer]
		if !ok {
			cl = newLimiter(lim.Consumer)
			l.byCons[c.Consumer] = cl
		}
		userKey := c.Consumer + "\x00" + c.Subject
		ul, ok := l.byUser.Get(userKey)
		if !ok {
			ul = newLimiter(lim.EndUser)
			l.byUser.Add(userKey, ul)
		}
		l.mu.Unlock()

		now := time.Now()
		ur := ul.ReserveN(now, 1)
		cr := cl.ReserveN(now, 1)
		wait := max(ur.DelayFrom(now), cr.DelayFrom(now))
		if !ur.OK() || !cr.OK() || wait > 0 {
			// Refused requests do not consume tokens.
			ur.CancelAt(now)
			cr.CancelAt(now)
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			which := "your session's"
			if cr.DelayFrom(now) >= ur.DelayFrom(now) {
				which = "your application's"
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			errcode.WriteHTTP(w, errcode.RateLimited,
				fmt.Sprintf("too many requests: %s rate limit is reached; retry after %d s", which, secs), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}
