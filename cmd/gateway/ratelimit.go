package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	goredis "github.com/redis/go-redis/v9"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/auth"
	rediscache "pudong.gov.cn/gateway/cache/redis"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/metrics"
	"pudong.gov.cn/gateway/ratelimit"
	"pudong.gov.cn/gateway/server"
)

// localLimiterKeys bounds the buckets a replica keeps in memory (consumers and end users).
const localLimiterKeys = 100000

// newLimiter is where the gateway counts against token buckets (rate limits, and any
// other budget keyed apart from theirs): in Redis when one is configured
// (limits.redisAddr, else cache.redisAddr), so that every replica draws on the same
// buckets, and in memory otherwise (docs/operators.md, "Rate limits").
func newLimiter(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, closers *closeStack) (ratelimit.Limiter, error) {
	var lim ratelimit.Limiter = ratelimit.NewLocal(localLimiterKeys)
	addr := cfg.Limits.RedisAddr
	switch addr {
	case "":
		addr = cfg.Cache.RedisAddr
	case config.LocalLimits:
		addr = ""
	}
	isShared := 0.0
	if addr != "" {
		opts, err := rediscache.ClientOptions(addr)
		if err != nil {
			return nil, fmt.Errorf("limits.redisAddr: %w", err)
		}
		client := goredis.NewClient(opts)
		closers.push("rate limit redis", func(context.Context) error { return client.Close() })
		shared := ratelimit.NewRedis(client, ratelimit.RedisOptions{
			Prefix: cfg.Cache.RedisPrefix + "rl:", Fallback: ratelimit.NewLocal(localLimiterKeys),
			Log: log.With("component", "ratelimit"),
		})
		m.CounterFunc("gateway_ratelimit_redis_errors_total", "Rate-limit checks whose Redis call failed or timed out.", nil,
			func() float64 { return float64(shared.Stats().Errors) })
		m.CounterFunc("gateway_ratelimit_local_fallbacks_total", "Rate-limit checks answered by the replica's own buckets because Redis was unreachable.", nil,
			func() float64 { return float64(shared.Stats().Fallback) })
		m.GaugeFunc("gateway_ratelimit_degraded", "1 while Redis is unreachable and each replica enforces rate limits on its own.", nil,
			func() float64 {
				if shared.Stats().Degraded {
					return 1
				}
				return 0
			})
		lim, isShared = shared, 1
		log.Info("rate limits shared across replicas", "redis", opts.Addr)
	}
	m.GaugeFunc("gateway_ratelimit_shared", "1 when rate limits are counted in Redis for all replicas, 0 when per replica.", nil,
		func() float64 { return isShared })
	return lim, nil
}

// newRateLimiter holds each consumer and each of its end users to their limits on lim.
func newRateLimiter(cfg *config.Config, lim ratelimit.Limiter, m *metrics.Metrics) *server.RateLimiter {
	rl := server.NewRateLimiter(lim, func(consumer string) server.Limits {
		c := cfg.Consumer(consumer)
		if c == nil {
			return server.Limits{}
		}
		u, all := c.Limits()
		return server.Limits{EndUser: server.Rate(u), Consumer: server.Rate(all)}
	}, func(r *http.Request) *gateway.Caller { return auth.CallerFrom(r.Context()) })
	rl.OnRefused = m.RateLimited
	return rl
}
