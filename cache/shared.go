package cache

import (
	"context"
	"log/slog"
	"time"

	"pudong.gov.cn/gateway/adapters"
)

// Entry is one cached answer of a department: the records for a key, or the fact that
// the department does not know it. It travels between replicas through the shared layer
// with the time the department gave it, so its age stays honest on every replica.
type Entry struct {
	Records  []adapters.Record `json:"records,omitempty"`
	Total    int               `json:"total,omitempty"` // a page's (FetchPage): how many records the key has in all
	Found    bool              `json:"found"`
	LoadedAt time.Time         `json:"loadedAt"`
}

// Shared is a cache layer shared by all replicas of the gateway. Its errors never reach
// Fetch callers: the cache counts them, logs them and goes to the department.
type Shared interface {
	// Get returns the entries it holds for keys of dept's operation op, fresh or not:
	// the cache judges freshness by Entry.LoadedAt. Keys it lacks are absent.
	Get(ctx context.Context, dept, op string, keys []string) (map[string]Entry, error)
	// Set stores entries of dept's operation op for at least ttl.
	Set(ctx context.Context, dept, op string, entries map[string]Entry, ttl time.Duration) error
	// Purge drops dept's entries for keys under every operation, or all of dept's
	// entries when keys is empty, notifies the other replicas' subscribers, and returns
	// the entries it dropped as (operation, key) pairs.
	Purge(ctx context.Context, dept string, keys []string) ([][2]string, error)
	// Subscribe delivers the purge notices of other replicas to fn, in the background,
	// until ctx ends, reconnecting as needed. It returns once the subscription is
	// confirmed, or with an error if it could not be yet; delivery then starts when
	// the shared layer is reachable again. Notices sent while it is unreachable are
	// lost, so an entry purged elsewhere may live here until its TTL.
	Subscribe(ctx context.Context, fn func(dept string, keys []string)) error
}

// Listen makes this cache drop its in-process entries when another replica purges them
// through the shared layer, until ctx ends. It returns nil without a shared layer, and
// an error when the subscription is not confirmed (see Shared.Subscribe): the cache
// then still works, and purge notices arrive once the shared layer is back.
func (c *Cache) Listen(ctx context.Context) error {
	if c.shared == nil {
		return nil
	}
	return c.shared.Subscribe(ctx, func(dept string, keys []string) {
		if dept != c.dept {
			return
		}
		n := len(c.purgeLocal(keys))
		c.stats.remotePurges.Add(1)
		c.log.DebugContext(ctx, "cache: purged on notice from another replica", slog.Int("keys", len(keys)), slog.Int("dropped", n))
	})
}
