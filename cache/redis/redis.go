// Package redis is the record cache's shared layer on Redis: replicas of the gateway
// find in it what any of them loaded, so a department is asked once per update cycle
// for the whole deployment rather than once per replica, and a purge through one
// replica reaches all of them by pub/sub.
//
// Layout. Each department key is one Redis hash, "{prefix}rec:{dept}:{key}", with one
// field per operation holding the JSON of a cache.Entry. A hash per key makes purging a
// key under every operation one UNLINK, without knowing which operations other replicas
// have cached. Purging a whole department SCANs for its hashes: that costs a walk of the
// keyspace, but it is a rare operator action, whereas a per-department generation
// counter would cost an extra round trip on every read. Hashes expire TTL+StaleFor
// after their last write; readers judge freshness by Entry.LoadedAt, not by expiry.
//
// Purge notices go on the channel "{prefix}purge" as JSON; every replica subscribes.
//
// The layer must never slow the gateway down: reads and writes give up after
// OpTimeout, and the cache bypasses the layer for a while after a failure. Build the
// client with ClientOptions (or with ContextTimeoutEnabled) so these deadlines reach
// the socket.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"pudong.gov.cn/gateway/cache"
	"pudong.gov.cn/gateway/cache/internal/ratelog"
)

// Timeouts. Reads and writes sit on the request path, where a department call is the
// alternative to waiting any longer; a purge is an operator's action and may walk the
// keyspace.
const (
	OpTimeout        = 50 * time.Millisecond
	PurgeTimeout     = 5 * time.Second
	SubscribeTimeout = 2 * time.Second
	scanCount        = 500
)

// Shared implements cache.Shared on a Redis server.
type Shared struct {
	client *goredis.Client
	prefix string
	log    *slog.Logger
	logs   ratelog.Limiter
	// origin identifies this replica in its own purge notices, which it ignores: the
	// cache has purged itself before publishing.
	origin string
}

var _ cache.Shared = (*Shared)(nil)

// ClientOptions are the client settings the shared layer expects: short timeouts that
// honour the context's deadline, and no retries, since a miss in Redis only means
// asking the department. addr is host:port, or a URL
// (redis://user:password@host:port/db, rediss:// for TLS) when Redis needs a password.
func ClientOptions(addr string) (*goredis.Options, error) {
	o := &goredis.Options{Addr: addr}
	if strings.Contains(addr, "://") {
		var err error
		if o, err = goredis.ParseURL(addr); err != nil {
			return nil, fmt.Errorf("redis address: %w", err)
		}
	} else if _, port, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("redis address %q: want HOST:PORT or a redis:// or rediss:// URL: %w", addr, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("redis address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	o.DialTimeout = 200 * time.Millisecond
	o.ReadTimeout = 100 * time.Millisecond
	o.WriteTimeout = 100 * time.Millisecond
	o.PoolTimeout = 100 * time.Millisecond
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	return o, nil
}

// New returns the shared layer on client, with every key and the purge channel under
// prefix (e.g. "pdgw:"), so several gateways or tests can share one Redis.
func New(client *goredis.Client, prefix string, log *slog.Logger) *Shared {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return &Shared{client: client, prefix: prefix, log: log.With(slog.String("component", "cache/redis")), origin: hex.EncodeToString(id[:])}
}

func (s *Shared) recordKey(dept, key string) string { return s.prefix + "rec:" + dept + ":" + key }

func (s *Shared) channel() string { return s.prefix + "purge" }

// Get reads the entries of keys for dept's operation op in one round trip.
func (s *Shared) Get(ctx context.Context, dept, op string, keys []string) (map[string]cache.Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	pipe := s.client.Pipeline()
	cmds := make([]*goredis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGet(ctx, s.recordKey(dept, k), op)
	}
	// Exec reports the first failed command, and a missing field is a failed HGET.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("reading %d %s %s entries from redis: %w", len(keys), dept, op, err)
	}
	out := make(map[string]cache.Entry, len(keys))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s %s entry %q from redis: %w", dept, op, keys[i], err)
		}
		var e cache.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			// Treated as absent: another version of the gateway may have written it,
			// and the department can answer instead.
			s.logs.Warn(ctx, s.log, "decode", "cache/redis: ignoring an entry that does not decode",
				slog.String("department", dept), slog.String("op", op), slog.Any("error", err))
			continue
		}
		out[keys[i]] = e
	}
	return out, nil
}

// Set writes entries for dept's operation op in one round trip, each hash kept ttl
// after its last write.
func (s *Shared) Set(ctx context.Context, dept, op string, entries map[string]cache.Entry, ttl time.Duration) error {
	if len(entries) == 0 || ttl <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	pipe := s.client.Pipeline()
	for k, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding %s %s entry %q: %w", dept, op, k, err)
		}
		key := s.recordKey(dept, k)
		pipe.HSet(ctx, key, op, b)
		pipe.PExpire(ctx, key, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("writing %d %s %s entries to redis: %w", len(entries), dept, op, err)
	}
	return nil
}

// notice is a purge announced to the other replicas.
type notice struct {
	Origin string   `json:"origin"`
	Dept   string   `json:"dept"`
	Keys   []string `json:"keys,omitempty"` // empty: the whole department
}

// Purge drops dept's entries for keys, or all of dept's entries when keys is empty, and
// publishes a notice so every replica drops its in-process entries too.
func (s *Shared) Purge(ctx context.Context, dept string, keys []string) ([][2]string, error) {
	ctx, cancel := context.WithTimeout(ctx, PurgeTimeout)
	defer cancel()
	var dropped [][2]string
	if len(keys) > 0 {
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = s.recordKey(dept, k)
		}
		got, err := s.unlink(ctx, dept, names)
		if err != nil {
			return nil, fmt.Errorf("dropping %d %s keys from redis: %w", len(keys), dept, err)
		}
		dropped = got
	} else {
		got, err := s.dropDepartment(ctx, dept)
		if err != nil {
			return nil, err
		}
		dropped = got
	}
	msg, err := json.Marshal(notice{Origin: s.origin, Dept: dept, Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("encoding the purge notice: %w", err)
	}
	if err := s.client.Publish(ctx, s.channel(), msg).Err(); err != nil {
		return nil, fmt.Errorf("telling the other replicas to purge %s: %w", dept, err)
	}
	return dropped, nil
}

// unlink drops the hashes names of dept in one round trip and returns their entries as
// (operation, key) pairs: each hash is one key, each of its fields one operation.
func (s *Shared) unlink(ctx context.Context, dept string, names []string) ([][2]string, error) {
	pipe := s.client.TxPipeline()
	fields := make([]*goredis.StringSliceCmd, len(names))
	for i, n := range names {
		fields[i] = pipe.HKeys(ctx, n)
	}
	pipe.Unlink(ctx, names...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	prefix := s.recordKey(dept, "")
	var out [][2]string
	for i, f := range fields {
		for _, op := range f.Val() {
			out = append(out, [2]string{op, strings.TrimPrefix(names[i], prefix)})
		}
	}
	return out, nil
}

// dropDepartment unlinks every hash of dept, a SCAN page at a time.
func (s *Shared) dropDepartment(ctx context.Context, dept string) ([][2]string, error) {
	pattern := globEscape(s.recordKey(dept, "")) + "*"
	var cursor uint64
	var out [][2]string
	for {
		names, next, err := s.client.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return nil, fmt.Errorf("listing %s keys in redis: %w", dept, err)
		}
		if len(names) > 0 {
			got, err := s.unlink(ctx, dept, names)
			if err != nil {
				return nil, fmt.Errorf("dropping %s keys from redis: %w", dept, err)
			}
			out = append(out, got...)
		}
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}

// globEscape quotes the characters SCAN MATCH treats as a pattern, so a prefix or a
// department id can hold them.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Subscribe delivers the purge notices of other replicas to fn until ctx ends. It
// waits up to SubscribeTimeout for Redis to confirm the subscription, so a purge
// published after it returns nil is delivered. If Redis does not confirm, it returns
// the error and keeps trying in the background (go-redis reconnects and resubscribes).
func (s *Shared) Subscribe(ctx context.Context, fn func(dept string, keys []string)) error {
	ps := s.client.Subscribe(ctx, s.channel())
	confirmCtx, cancel := context.WithTimeout(ctx, SubscribeTimeout)
	_, err := ps.Receive(confirmCtx)
	cancel()
	msgs := ps.Channel()
	go func() {
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				var n notice
				if err := json.Unmarshal([]byte(m.Payload), &n); err != nil {
					s.logs.Warn(ctx, s.log, "notice", "cache/redis: ignoring a purge notice that does not decode", slog.Any("error", err))
					continue
				}
				if n.Origin != s.origin {
					fn(n.Dept, n.Keys)
				}
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("subscribing to purge notices on %s (they will arrive once redis is reachable): %w", s.channel(), err)
	}
	return nil
}

// Logger returns go-redis's internal logger writing to log, for goredis.SetLogger: by
// default go-redis prints plain-text lines ("redis: … pool.go: failed to dial") on
// standard error, which breaks a JSON log stream (docs/operators.md, Logs). go-redis keeps
// one logger per process, so the gateway sets it once it has its own.
func Logger(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return goredisLog{log.With(slog.String("component", "go-redis"))}
}

type goredisLog struct{ log *slog.Logger }

// Printf logs go-redis's message at warning level: it only reports trouble (dial
// failures, pool problems), which the cache also counts and survives.
func (g goredisLog) Printf(ctx context.Context, format string, v ...any) {
	g.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
