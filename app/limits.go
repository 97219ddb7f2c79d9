package app

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	rediscache "pudong.gov.cn/gateway/cache/redis"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/ratelimit"
	"pudong.gov.cn/gateway/server"
)

// localLimiterKeys bounds the buckets a replica keeps in memory (consumers, end users,
// and end users' budgets of people).
const localLimiterKeys = 100000

// limiter is where the gateway counts against token buckets — the rate limits and the
// budget of distinct people: in Redis when one is configured (limits.redisAddr, else
// cache.redisAddr), so that every replica draws on the same buckets, and in memory
// otherwise (docs/operators.md, "Rate limits").
func (g *Gateway) limiter() (ratelimit.Limiter, error) {
	addr := LimitsRedis(g.cfg)
	shared := 0.0
	g.metrics.GaugeFunc("gateway_ratelimit_shared", "1 when rate limits are counted in Redis for all replicas, 0 when per replica.", nil,
		func() float64 { return shared })
	if addr == "" {
		return ratelimit.NewLocal(localLimiterKeys), nil
	}
	opts, err := rediscache.ClientOptions(addr)
	if err != nil {
		return nil, fmt.Errorf("limits.redisAddr: %w", err)
	}
	client := goredis.NewClient(opts)
	g.onClose("rate limit redis", func(context.Context) error { return client.Close() })
	lim := ratelimit.NewRedis(client, ratelimit.RedisOptions{
		Prefix: g.cfg.Cache.RedisPrefix + "rl:", Fallback: ratelimit.NewLocal(localLimiterKeys),
		Log: g.log.With("component", "ratelimit"),
	})
	g.limiterMetrics(lim)
	shared = 1
	g.log.Info("rate limits shared across replicas", "redis", opts.Addr)
	return lim, nil
}

// LimitsRedis is the Redis the limits are counted in, "" for each replica's memory:
// limits.redisAddr, else the cache's (unless limits.redisAddr is local).
func LimitsRedis(cfg *config.Config) string {
	switch cfg.Limits.RedisAddr {
	case "":
		return cfg.Cache.RedisAddr
	case config.LocalLimits:
		return ""
	}
	return cfg.Limits.RedisAddr
}

// limiterMetrics reports how the shared limiter fares with Redis.
func (g *Gateway) limiterMetrics(lim *ratelimit.Redis) {
	g.metrics.CounterFunc("gateway_ratelimit_redis_errors_total", "Rate-limit checks whose Redis call failed or timed out.", nil,
		func() float64 { return float64(lim.Stats().Errors) })
	g.metrics.CounterFunc("gateway_ratelimit_local_fallbacks_total", "Rate-limit checks answered by the replica's own buckets because Redis was unreachable.", nil,
		func() float64 { return float64(lim.Stats().Fallback) })
	g.metrics.GaugeFunc("gateway_ratelimit_degraded", "1 while Redis is unreachable and each replica enforces rate limits on its own.", nil,
		func() float64 {
			if lim.Stats().Degraded {
				return 1
			}
			return 0
		})
}

// rateLimiter holds each consumer and each of its end users to their limits.
func (g *Gateway) rateLimiter() *server.RateLimiter {
	cfg := g.cfg
	rl := server.NewRateLimiter(g.limits, func(consumer string) server.Limits {
		c := cfg.Consumer(consumer)
		if c == nil {
			return server.Limits{}
		}
		u, all := c.Limits()
		return server.Limits{EndUser: server.Rate(u), Consumer: server.Rate(all)}
	})
	rl.OnRefused = g.metrics.RateLimited
	return rl
}

// subjectBudget bounds the distinct people each end user reaches, per the consumers'
// subjectLimit (docs/operators.md, consumers), on the same buckets as the rate limits:
// shared by the replicas when they share Redis.
func (g *Gateway) subjectBudget() enforce.Budget {
	return enforce.NewLimiterBudget(g.limits, func(consumer string) enforce.SubjectLimit {
		if c := g.cfg.Consumer(consumer); c != nil {
			l := c.Subjects()
			return enforce.SubjectLimit{PerRequest: l.PerRequest, PerMinute: l.PerMinute}
		}
		return enforce.SubjectLimit{PerRequest: 1, PerMinute: 1}
	})
}
