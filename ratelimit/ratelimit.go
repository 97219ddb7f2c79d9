// Package ratelimit counts requests (or any cost) against token buckets, in this process
// or shared by every replica through Redis. The server holds each consumer and each end
// user to its limits with it (docs/operators.md, "Rate limits"); keys are free-form, so
// other budgets (say, distinct subjects looked up per end user) can count on the same
// Limiter with n > 1 in one call.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Rate is a token bucket: a steady rate and the burst allowed on top. A PerSecond of
// zero or less means no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Unlimited reports whether r lets everything through.
func (r Rate) Unlimited() bool { return r.PerSecond <= 0 || math.IsInf(r.PerSecond, 1) }

func (r Rate) burst() int { return max(r.Burst, 1) }

// full is how long an empty bucket of r takes to fill: the wait reported for a cost that
// can never pass at once (n greater than the burst).
func (r Rate) full() time.Duration {
	return time.Duration(float64(r.burst()) / r.PerSecond * float64(time.Second))
}

// Limiter decides whether n more units of cost may be spent under key now. When it says
// no, nothing is spent and retryAfter is how long until they could be; a refusal never
// consumes tokens. Implementations are safe for concurrent use.
type Limiter interface {
	AllowN(ctx context.Context, key string, r Rate, n int) (ok bool, retryAfter time.Duration)
}

// Local keeps buckets in this process's memory, at most a fixed number of them (the least
// recently used go first, which only ever lets a forgotten key start with a full bucket).
type Local struct {
	mu      sync.Mutex
	buckets *lru.Cache[string, *bucket]
	now     func() time.Time
}

type bucket struct {
	rate Rate
	lim  *rate.Limiter
}

// DefaultMaxKeys bounds a Local limiter made with maxKeys <= 0.
const DefaultMaxKeys = 100000

// NewLocal returns a limiter holding at most maxKeys buckets.
func NewLocal(maxKeys int) *Local {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	b, _ := lru.New[string, *bucket](maxKeys)
	return &Local{buckets: b, now: time.Now}
}

// AllowN implements Limiter.
func (l *Local) AllowN(_ context.Context, key string, r Rate, n int) (bool, time.Duration) {
	if r.Unlimited() || n <= 0 {
		return true, 0
	}
	if n > r.burst() {
		return false, r.full()
	}
	l.mu.Lock()
	b, ok := l.buckets.Get(key)
	if !ok || b.rate != r {
		// A changed rate (a reloaded configuration) starts a fresh bucket.
		b = &bucket{rate: r, lim: rate.NewLimiter(rate.Limit(r.PerSecond), r.burst())}
		l.buckets.Add(key, b)
	}
	l.mu.Unlock()
	now := l.now()
	res := b.lim.ReserveN(now, n)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of buckets held, for tests and metrics.
func (l *Local) Len() int { return l.buckets.Len() }
