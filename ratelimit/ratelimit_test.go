package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// fakeClock lets the local buckets refill on command.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLocalBucket(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewLocal(10)
	l.now = clk.now
	ctx := context.Background()
	r := Rate{PerSecond: 2, Burst: 3}
	for i := range 3 {
		if ok, _ := l.AllowN(ctx, "a", r, 1); !ok {
			t.Fatalf("request %d within the burst was refused", i)
		}
	}
	ok, wait := l.AllowN(ctx, "a", r, 1)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: ok=%v retryAfter=%v, want refused with at most 500ms", ok, wait)
	}
	if ok, _ := l.AllowN(ctx, "b", r, 1); !ok {
		t.Error("another key has its own bucket")
	}
	clk.advance(wait)
	if ok, _ := l.AllowN(ctx, "a", r, 1); !ok {
		t.Error("after retryAfter the request passes")
	}
}

func TestLocalCostAndRefusalsSpendNothing(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewLocal(10)
	l.now = clk.now
	ctx := context.Background()
	r := Rate{PerSecond: 1, Burst: 10}
	if ok, _ := l.AllowN(ctx, "k", r, 7); !ok {
		t.Fatal("a cost of 7 of a burst of 10 passes")
	}
	ok, wait := l.AllowN(ctx, "k", r, 5)
	if ok || wait < 1900*time.Millisecond || wait > 2*time.Second {
		t.Fatalf("a cost of 5 with 3 left: ok=%v retryAfter=%v, want refused for 2s", ok, wait)
	}
	if ok, _ := l.AllowN(ctx, "k", r, 3); !ok {
		t.Error("the refused cost of 5 must not have spent tokens: 3 are left")
	}
	if ok, wait := l.AllowN(ctx, "k", r, 11); ok || wait != 10*time.Second {
		t.Errorf("a cost above the burst never passes at once: ok=%v retryAfter=%v, want the 10s to refill", ok, wait)
	}
	if ok, _ := l.AllowN(ctx, "k", Rate{}, 1000); !ok {
		t.Error("a zero rate means no limit")
	}
}

func TestLocalIsBounded(t *testing.T) {
	l := NewLocal(100)
	for i := range 1000 {
		l.AllowN(context.Background(), "user-"+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i), byte(i >> 8)}), Rate{PerSecond: 1, Burst: 1}, 1)
	}
	if l.Len() > 100 {
		t.Errorf("%d buckets held, want at most 100", l.Len())
	}
}

// redisClient returns a client for the test Redis, or skips.
func redisClient(t testing.TB) *goredis.Client {
	t.Helper()
	addr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("GATEWAY_TEST_REDIS_ADDR is not set; skipping the Redis limiter tests")
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", addr, err)
	}
	return c
}

// uniquePrefix keeps concurrent test runs on one Redis apart.
func uniquePrefix(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "gwtest:ratelimit:" + hex.EncodeToString(b) + ":"
}

// Two replicas sharing one Redis hold a key to one limit between them.
func TestRedisSharedAcrossReplicas(t *testing.T) {
	c := redisClient(t)
	prefix := uniquePrefix(t)
	a := NewRedis(c, RedisOptions{Prefix: prefix, Timeout: time.Second})
	b := NewRedis(c, RedisOptions{Prefix: prefix, Timeout: time.Second})
	ctx := context.Background()
	r := Rate{PerSecond: 0.01, Burst: 10} // nothing refills during the test
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			if ok, _ := l.AllowN(ctx, "consumer", r, 1); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("two replicas allowed %d requests, want the burst of 10 once", allowed)
	}
	ok, wait := a.AllowN(ctx, "consumer", r, 1)
	if ok || wait < 90*time.Second {
		t.Errorf("over the limit: ok=%v retryAfter=%v, want refused for about 100s", ok, wait)
	}
	if s := a.Stats(); s.Errors != 0 || s.Fallback != 0 || s.Degraded {
		t.Errorf("a reachable Redis needs no fallback: %+v", s)
	}
}

func TestRedisCost(t *testing.T) {
	c := redisClient(t)
	l := NewRedis(c, RedisOptions{Prefix: uniquePrefix(t), Timeout: time.Second})
	ctx := context.Background()
	r := Rate{PerSecond: 0.01, Burst: 10}
	if ok, _ := l.AllowN(ctx, "subjects", r, 7); !ok {
		t.Fatal("a cost of 7 of a burst of 10 passes")
	}
	if ok, wait := l.AllowN(ctx, "subjects", r, 5); ok || wait <= 0 {
		t.Fatalf("a cost of 5 with 3 left: ok=%v retryAfter=%v", ok, wait)
	}
	if ok, _ := l.AllowN(ctx, "subjects", r, 3); !ok {
		t.Error("the refused cost must not have spent tokens: 3 are left")
	}
	if ok, _ := l.AllowN(ctx, "subjects", r, 1); ok {
		t.Error("the bucket is empty")
	}
}

// An unreachable Redis: the limiter answers from its local buckets within its deadline,
// logs once, counts, and reports the degraded state.
func TestRedisFallsBackToLocal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A listener that accepts and never answers: every call can only end at its deadline.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Cleanup(func() { ln.Close() })
	c := goredis.NewClient(&goredis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	var logs bytes.Buffer
	l := NewRedis(c, RedisOptions{Prefix: "x:", Timeout: 30 * time.Millisecond, RetryAfter: time.Hour,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	r := Rate{PerSecond: 0.01, Burst: 2}
	ctx := context.Background()
	start := time.Now()
	var got []bool
	for range 3 {
		ok, _ := l.AllowN(ctx, "k", r, 1)
		got = append(got, ok)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("three checks against a silent Redis took %v: each call needs its deadline, and later ones skip Redis", took)
	}
	if got[0] != true || got[1] != true || got[2] != false {
		t.Errorf("the local buckets keep enforcing the limit: %v, want [true true false]", got)
	}
	s := l.Stats()
	if s.Errors != 1 || s.Fallback != 3 || !s.Degraded {
		t.Errorf("stats %+v: want one error (then Redis is left alone), three fallbacks, degraded", s)
	}
	if n := strings.Count(logs.String(), "Redis is unreachable"); n != 1 {
		t.Errorf("want one log line for the change, got %d:\n%s", n, logs.String())
	}
}

// After the retry interval a Redis that answers again takes over, and the log says so.
func TestRedisRecovers(t *testing.T) {
	c := redisClient(t)
	var logs bytes.Buffer
	l := NewRedis(c, RedisOptions{Prefix: uniquePrefix(t), Timeout: time.Second, RetryAfter: time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	l.setDown(true, context.DeadlineExceeded)
	time.Sleep(2 * time.Millisecond)
	if ok, _ := l.AllowN(context.Background(), "k", Rate{PerSecond: 1, Burst: 1}, 1); !ok {
		t.Fatal("first request passes")
	}
	if s := l.Stats(); s.Degraded {
		t.Errorf("Redis answered: no longer degraded: %+v", s)
	}
	if !strings.Contains(logs.String(), "Redis answers again") {
		t.Errorf("the recovery is logged:\n%s", logs.String())
	}
}
