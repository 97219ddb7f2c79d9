package e2e

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/idcode"
)

// limitPair starts two replicas that count their limits in one Redis, under a prefix of
// their own, and share the demo signing key as production replicas share their identity
// provider's keys; each keeps its own store. adjust changes both configurations. It
// skips when no Redis is configured.
func limitPair(t *testing.T, adjust func(*config.Config)) (a, b *Gateway) {
	t.Helper()
	addr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("GATEWAY_TEST_REDIS_ADDR is not set; set it (e.g. 127.0.0.1:6379) to run the shared-limit tests")
	}
	prefix := "gwtest:" + rand.Text()[:10] + ":"
	keys := t.TempDir()
	use := func(c *config.Config) {
		c.Limits.RedisAddr, c.Cache.RedisPrefix = addr, prefix
		c.DataDir = keys // the store stays in each replica's own directory
		adjust(c)
	}
	return Start(t, use), Start(t, use)
}

// Two replicas sharing one Redis hold one consumer to one limit: a load balancer that
// alternates between them does not double the consumer's share.
func TestRateLimitsSharedAcrossReplicas(t *testing.T) {
	const burst = 6
	a, b := limitPair(t, func(c *config.Config) {
		for i := range c.Consumers {
			if c.Consumers[i].Name == "online-hall" {
				c.Consumers[i].ConsumerRateLimit = &config.Rate{PerSecond: 0.01, Burst: burst} // no refill during the test
			}
		}
	})
	tok := a.Token("online-hall")
	ok, limited := 0, 0
	for i := range 4 * burst {
		g := a
		if i%2 == 1 {
			g = b
		}
		switch r := g.Post(tok, `{ me { consumer } }`, nil); r.Status {
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
	if m := b.metrics(); !strings.Contains(m, "gateway_ratelimit_shared 1") || !strings.Contains(m, "gateway_ratelimit_degraded 0") {
		t.Errorf("/metrics should report shared, healthy limits:\n%s", grepLines(m, "gateway_ratelimit"))
	}
}

// Two replicas sharing one Redis hold one end user to one budget of distinct people
// (subjectLimit.perMinute): looking people up through both does not double it.
func TestSubjectBudgetSharedAcrossReplicas(t *testing.T) {
	const perMinute = 4
	a, b := limitPair(t, func(c *config.Config) {
		c.Limits.RateLimitsOff = true // the budget of people alone
		for i := range c.Consumers {
			if c.Consumers[i].Name == "online-hall" {
				c.Consumers[i].SubjectLimit = &config.SubjectLimit{PerRequest: 10, PerMinute: perMinute} // refills 1 in 15 s
			}
		}
	})
	tok := a.Token("online-hall")
	answered, refused := 0, 0
	for i := range 2 * perMinute {
		prefix := fmt.Sprintf("3101151980%02d01%03d", 1+i%12, i)
		person := prefix + string(idcode.IDCheckDigit(prefix))
		g := a
		if i%2 == 1 {
			g = b
		}
		r := g.Post(tok, `query($id: ID!) { citizen(idNumber: $id) { name } }`, map[string]any{"id": person})
		switch e := r.ErrorAt("citizen"); {
		case e == nil:
			answered++
		case e.Extensions["code"] == "SUBJECT_LIMIT_EXCEEDED":
			refused++
		default:
			t.Fatalf("person %d: unexpected refusal: %s", i, r.Raw)
		}
	}
	if answered != perMinute || refused != perMinute {
		t.Errorf("two replicas answered %d people and refused %d; want the budget of %d once", answered, refused, perMinute)
	}
}

// limits.redisAddr: local keeps the limits in memory though the cache shares through
// Redis; without it they follow the cache into Redis.
func TestLocalLimitsBesideASharedCache(t *testing.T) {
	for _, c := range []struct {
		limits, want string
	}{{config.LocalLimits, "gateway_ratelimit_shared 0"}, {"", "gateway_ratelimit_shared 1"}} {
		g := Start(t, func(cfg *config.Config) {
			cfg.Cache.RedisAddr = "127.0.0.1:1" // unreachable: nothing here needs it to answer
			cfg.Limits.RedisAddr = c.limits
		})
		if m := g.metrics(); !strings.Contains(m, c.want) {
			t.Errorf("limits.redisAddr %q: want %s in\n%s", c.limits, c.want, grepLines(m, "gateway_ratelimit"))
		}
	}
}
