package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLocalAllowN: one check on an in-memory bucket, for one and for 50 units of
// cost (a lookup of 50 subjects): the cost does not depend on n.
func BenchmarkLocalAllowN(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			l := NewLocal(0)
			r := Rate{PerSecond: 1e9, Burst: 1e9}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.AllowN(context.Background(), "c\x00online-hall", r, n)
				}
			})
		})
	}
}

// BenchmarkRedisAllowN: one check in Redis (one script call over loopback), for one and
// for 50 units of cost.
func BenchmarkRedisAllowN(b *testing.B) {
	c := redisClient(b)
	for _, n := range []int{1, 50} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			l := NewRedis(c, RedisOptions{Prefix: uniquePrefix(b), Timeout: time.Second})
			r := Rate{PerSecond: 1e9, Burst: 1e9}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.AllowN(context.Background(), "c\x00online-hall", r, n)
				}
			})
			if s := l.Stats(); s.Errors > 0 {
				b.Fatalf("Redis errors during the benchmark: %+v", s)
			}
		})
	}
}
