package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// Defaults for RedisOptions fields left zero.
const (
	// DefaultRedisTimeout bounds each call to Redis: a limit check sits in front of every
	// request, so a slow Redis must cost little before the local buckets take over.
	DefaultRedisTimeout = 50 * time.Millisecond
	// DefaultRetryAfter is how long the limiter stays on its local buckets after Redis
	// failed before it asks Redis again, so that a Redis that is down costs one timeout
	// per interval rather than one per request.
	DefaultRetryAfter = time.Second
)

// RedisOptions configures NewRedis.
type RedisOptions struct {
	Prefix     string        // put before every key; replicas of one gateway share it
	Timeout    time.Duration // per Redis call; default DefaultRedisTimeout
	RetryAfter time.Duration // local-only interval after a failure; default DefaultRetryAfter
	Fallback   *Local        // counts while Redis is unreachable; default NewLocal(0)
	Log        *slog.Logger
}

// Redis counts in Redis, so that every replica behind a load balancer draws on the same
// buckets: a consumer gets its limit once, not once per replica. Each check is one
// round trip running a GCRA script (github.com/go-redis/redis_rate), whatever n is.
// When Redis cannot be reached it falls back to its local buckets — each replica then
// enforces the limit on its own — and says so in a log line and in Stats, and goes back
// to Redis once it answers again.
type Redis struct {
	rl       *redis_rate.Limiter
	o        RedisOptions
	log      *slog.Logger
	errors   atomic.Uint64
	fallback atomic.Uint64
	// downUntil is when to try Redis again (unix nanoseconds; 0: Redis is in use).
	downUntil atomic.Int64
	mu        sync.Mutex // serialises the log lines of a state change
	down      bool
}

// NewRedis returns a limiter counting in the Redis behind client. Build the client with
// ContextTimeoutEnabled (cache/redis.ClientOptions does), or the per-call deadline does
// not reach the socket and a silent Redis holds each request for the client's own
// timeouts.
func NewRedis(client goredis.UniversalClient, o RedisOptions) *Redis {
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Fallback == nil {
		o.Fallback = NewLocal(0)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Redis{rl: redis_rate.NewLimiter(client), o: o, log: o.Log}
}

// RedisStats are the limiter's running totals, for metrics.
type RedisStats struct {
	Errors   uint64 // Redis calls that failed or timed out
	Fallback uint64 // checks answered by the local buckets
	Degraded bool   // Redis is unreachable now: limits are per replica
}

// Stats returns the running totals.
func (l *Redis) Stats() RedisStats {
	return RedisStats{Errors: l.errors.Load(), Fallback: l.fallback.Load(), Degraded: l.downUntil.Load() != 0}
}

// AllowN implements Limiter.
func (l *Redis) AllowN(ctx context.Context, key string, r Rate, n int) (bool, time.Duration) {
	if r.Unlimited() || n <= 0 {
		return true, 0
	}
	if n > r.burst() {
		return false, r.full()
	}
	if until := l.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		l.fallback.Add(1)
		return l.o.Fallback.AllowN(ctx, key, r, n)
	}
	cctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	res, err := l.rl.AllowN(cctx, l.o.Prefix+key, limitOf(r), n)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// The caller is gone; that says nothing about Redis.
			return false, 0
		}
		l.errors.Add(1)
		l.fallback.Add(1)
		l.setDown(true, err)
		return l.o.Fallback.AllowN(ctx, key, r, n)
	}
	l.setDown(false, nil)
	if res.Allowed == 0 {
		return false, max(res.RetryAfter, 0)
	}
	return true, 0
}

// limitOf expresses r in redis_rate's terms: one token every 1/PerSecond seconds.
func limitOf(r Rate) redis_rate.Limit {
	return redis_rate.Limit{Rate: 1, Burst: r.burst(), Period: max(time.Duration(float64(time.Second)/r.PerSecond), 1)}
}

// setDown records Redis being unreachable (and until when to leave it alone) or
// reachable again, logging only the changes.
func (l *Redis) setDown(down bool, err error) {
	if !down && l.downUntil.Load() == 0 {
		return // the common case: Redis answered and was fine before
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if down {
		l.downUntil.Store(time.Now().Add(l.o.RetryAfter).UnixNano())
		if !l.down {
			l.log.Warn("rate limits: Redis is unreachable; each replica now enforces limits on its own until it answers again", "err", err)
		}
	} else {
		l.downUntil.Store(0)
		if l.down {
			l.log.Info("rate limits: Redis answers again; limits are shared across replicas")
		}
	}
	l.down = down
}
