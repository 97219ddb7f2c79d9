package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
)

// Two replicas sharing one Redis hold one consumer to one limit: a load balancer that
// alternates between them does not double the consumer's share.
func TestRateLimitsSharedAcrossReplicas(t *testing.T) {
	addr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("GATEWAY_TEST_REDIS_ADDR is not set; skipping the shared rate limit test")
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "gwtest:" + hex.EncodeToString(b) + ":"
	const burst = 6
	a := newTG(t, func(c *config.Config) {
		c.Limits.RedisAddr = addr
		c.Cache.RedisPrefix = prefix
		for i := range c.Consumers {
			if c.Consumers[i].Name == "online-hall" {
				c.Consumers[i].ConsumerRateLimit = &config.Rate{PerSecond: 0.01, Burst: burst} // no refill during the test
			}
		}
	})
	// The second replica: the same configuration (and so the same demo key), its own store.
	cfg2 := *a.cfg
	cfg2.Store.DSN = filepath.Join(t.TempDir(), "replica2.db")
	var closers closeStack
	parts, err := assemble(context.Background(), &cfg2, slog.New(slog.NewTextHandler(io.Discard, nil)), &closers)
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(parts.handler)
	t.Cleanup(func() {
		srv2.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closers.closeAll(ctx, slog.New(slog.DiscardHandler))
	})
	b2 := &tg{t: t, cfg: &cfg2, parts: parts, srv: srv2}

	tok := a.token("online-hall")
	ok, limited := 0, 0
	for i := range 4 * burst {
		g := a
		if i%2 == 1 {
			g = b2
		}
		switch r := g.post(tok, `{ me { consumer } }`, nil); r.Status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("request %d: status %d: %s", i, r.Status, r.Raw)
		}
	}
	if ok != burst || limited != 3*burst {
		t.Errorf("two replicas let %d requests through and refused %d; want the burst of %d once", ok, limited, burst)
	}
	res, err := http.Get(srv2.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), "gateway_ratelimit_shared 1") || !strings.Contains(string(body), "gateway_ratelimit_degraded 0") {
		t.Errorf("/metrics should report shared, healthy limits:\n%s", grepLines(string(body), "gateway_ratelimit"))
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// limits.redisAddr: local keeps the limits in memory though the cache shares through
// Redis; without it they follow the cache into Redis.
func TestLocalLimitsBesideASharedCache(t *testing.T) {
	for _, c := range []struct {
		limits, want string
	}{{config.LocalLimits, "gateway_ratelimit_shared 0"}, {"", "gateway_ratelimit_shared 1"}} {
		g := newTG(t, func(cfg *config.Config) {
			cfg.Cache.RedisAddr = "127.0.0.1:1" // unreachable: nothing here needs it to answer
			cfg.Limits.RedisAddr = c.limits
		})
		if m := g.metrics(); !strings.Contains(m, c.want) {
			t.Errorf("limits.redisAddr %q: want %s in\n%s", c.limits, c.want, grepLines(m, "gateway_ratelimit"))
		}
	}
}
