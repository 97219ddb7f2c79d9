// Package cache keeps department records close to the gateway, so that a department is
// asked for a record at most once per update cycle, a burst of requests for the same
// record costs one upstream call, and a department that is down does not take the
// gateway's answers down with it while the last known records are recent enough.
//
// The cache holds department records exactly as the adapters return them, keyed by
// department, operation and lookup key. It never holds a caller's view: the sharing
// policy is applied to what Fetch returns, and Fetch returns copies, so masking a value
// for one caller cannot change what another caller is served.
//
// There are two layers: an in-process LRU per department (this package) and an optional
// layer shared by all replicas (the Shared interface; cache/redis implements it with
// Redis). The shared layer is an optimisation only: when it is slow or down, Fetch works
// from the in-process layer and the department, and counts the failures in Stats.
package cache

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/cache/internal/ratelog"
	"pudong.gov.cn/gateway/config"
)

// Defaults for options left at zero; the others are the configuration's (config.Default…).
const (
	DefaultLoadTimeout = 10 * time.Second
	// sharedBackoff is how long the shared layer is bypassed after it failed, so that a
	// Redis outage costs one timeout per second rather than one per request.
	sharedBackoff = time.Second
)

// Options configure the cache of one department.
type Options struct {
	// Department is the department id (psb, amr, …): it names entries in the shared
	// layer and selects the purge notices meant for this cache.
	Department string
	// TTL is the owner's update cycle from the catalogue: a record loaded less than TTL
	// ago is served without asking the department. Zero means records are never fresh
	// (every Fetch asks the department) but are still kept for stale-if-error.
	TTL time.Duration
	// MaxRecords bounds the number of entries (one per operation and key, however many
	// records it holds) kept in process. Default DefaultMaxRecords.
	MaxRecords int
	// MaxBytes bounds the memory of the entries kept in process, as packed records plus
	// a fixed overhead per entry; the least recently used go first when either bound is
	// reached. Default config.DefaultCacheMaxBytes.
	MaxBytes int64
	// NotFoundTTL is how long "the department does not know this key" is believed.
	// Default DefaultNotFoundTTL; never longer than TTL; negative disables it.
	NotFoundTTL time.Duration
	// StaleFor is how long past TTL a record may still be served when the department
	// fails (stale-if-error). Default DefaultStaleFor; negative disables it.
	StaleFor time.Duration
	// LoadTimeout bounds a load that callers share when the caller that started it has
	// no later deadline. Default DefaultLoadTimeout.
	LoadTimeout time.Duration
	// Shared is the optional layer shared by all replicas; nil means none.
	Shared Shared
	// Now is the clock that ages entries; time.Now when nil. Tests inject their own.
	Now func() time.Time
	// Log receives shared-layer failures (rate-limited) and panics of loaders; nil
	// discards them.
	Log *slog.Logger
}

// Loader asks the department for keys with one operation. A key absent from the map is
// one the department does not know ("not found"); an error means the whole call failed.
type Loader func(ctx context.Context, keys []string) (map[string][]adapters.Record, error)

// PageLoader asks the department for one page of a key's records, with the total count.
type PageLoader func(ctx context.Context) (adapters.Page, error)

// entryLoader is what a load runs: the entries found, by key (LoadedAt unset). Fetch
// and FetchPage each adapt their loader to it, so records and pages share one path of
// lookups, coalescing, the shared layer and stale-if-error.
type entryLoader func(ctx context.Context, keys []string) (map[string]Entry, error)

// Result is what Fetch found for a batch of keys.
type Result struct {
	// Records by key; a key that is absent was not found (or, if Fetch also returned an
	// error, could not be loaded). Each caller gets its own copy of the records.
	Records map[string][]adapters.Record
	// Hits counts the distinct keys answered from a fresh entry of either layer without
	// waiting for the department; Misses counts the other distinct keys.
	Hits, Misses int
	// Stale is set when some records are served past their TTL because loading them
	// failed; the answer is the last known one, not the current one.
	Stale bool
	// MaxAge is the age of the oldest answer served (records or "not found"), measured
	// from when the department returned it, on whichever replica; about 0 if all were
	// loaded for this call. It lets the caller tell consumers how current the data is.
	MaxAge time.Duration

	totals map[string]int // FetchPage's: the total count of the page's key
}

// Cache is the record cache of one department. It is safe for concurrent use.
type Cache struct {
	dept        string
	ttl         time.Duration
	notFoundTTL time.Duration
	staleFor    time.Duration
	loadTimeout time.Duration
	shared      Shared
	now         func() time.Time
	log         *slog.Logger
	logs        ratelog.Limiter

	// mu guards the LRU, the in-flight loads and the operations seen. One lock for all
	// three makes "look up, else join a load, else start one" atomic per key, which is
	// what guarantees one upstream call per key however many callers miss it at once.
	mu sync.Mutex
	// entries uses the plain LRU rather than expirable.LRU: an entry must outlive its
	// TTL by StaleFor to be served if the department fails, and its freshness is judged
	// with the injected clock. expirable.LRU drops entries at their TTL on the wall
	// clock from a background goroutine. Entries past TTL+StaleFor are dropped when
	// next touched, and the size bound evicts the least recently used ones, so the
	// bound on entries always holds.
	entries  *simplelru.LRU[entryKey, packed]
	bytes    int64 // what entries holds, by packed.size; guarded by mu
	maxBytes int64
	inflight map[entryKey]*call
	ops      map[string]struct{}

	sharedRetryAt atomic.Int64 // unix nanos before which the shared layer is bypassed
	stats         counters
}

// call is one key's load, awaited by every Fetch that missed the key meanwhile.
type call struct {
	done chan struct{}
	// Set before done is closed, read after.
	entry  Entry
	err    error
	stale  *Entry // a usable expired entry from the shared layer, for when err != nil
	shared bool   // entry came from the shared layer, not the department
	// noStore, guarded by Cache.mu, is set when the key is purged while loading: the
	// result may predate the change that caused the purge, so it is not kept.
	noStore bool
}

// New returns the cache of one department.
func New(o Options) *Cache {
	maxRecords := o.MaxRecords
	if maxRecords <= 0 {
		maxRecords = config.DefaultCacheMaxRecords
	}
	notFound := o.NotFoundTTL
	if notFound == 0 {
		notFound = config.DefaultNotFoundTTL
	}
	notFound = min(notFound, o.TTL)
	staleFor := o.StaleFor
	if staleFor == 0 {
		staleFor = config.DefaultStaleFor
	}
	loadTimeout := o.LoadTimeout
	if loadTimeout <= 0 {
		loadTimeout = DefaultLoadTimeout
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBytes := o.MaxBytes
	if maxBytes <= 0 {
		maxBytes = config.DefaultCacheMaxBytes
	}
	c := &Cache{
		dept:        o.Department,
		ttl:         max(o.TTL, 0),
		notFoundTTL: max(notFound, 0),
		staleFor:    max(staleFor, 0),
		loadTimeout: loadTimeout,
		shared:      o.Shared,
		now:         now,
		log:         log.With(slog.String("department", o.Department)),
		maxBytes:    maxBytes,
		inflight:    map[entryKey]*call{},
		ops:         map[string]struct{}{},
	}
	// Every removal, whichever bound or call causes it, goes through onEvict, which keeps
	// the byte count true. NewLRU fails only for a size below 1, which maxRecords cannot be.
	entries, err := simplelru.NewLRU[entryKey, packed](maxRecords, func(k entryKey, p packed) { c.bytes -= int64(p.size(k)) })
	if err != nil {
		panic(fmt.Sprintf("cache: creating the LRU: %v", err))
	}
	c.entries = entries
	return c
}

// store adds an entry and evicts the least recently used ones until both bounds hold.
// It reports how many it evicted. Guarded by mu.
func (c *Cache) store(k entryKey, e Entry) int {
	p := pack(e)
	size := int64(p.size(k))
	if size > c.maxBytes {
		return 0 // larger than the whole bound: keeping it would evict everything else
	}
	if old, ok := c.entries.Peek(k); ok {
		c.bytes -= int64(old.size(k)) // replaced in place: Add does not evict it
	}
	evicted := 0
	if c.entries.Add(k, p) {
		evicted++
	}
	c.bytes += size
	for c.bytes > c.maxBytes {
		if _, _, ok := c.entries.RemoveOldest(); !ok {
			break
		}
		evicted++
	}
	return evicted
}

// entryKey names one cached answer: an operation's key. A struct rather than a joined
// string, so a lookup allocates nothing.
type entryKey struct{ op, key string }

// age is how long ago the department returned e; never negative, so a replica whose
// clock runs behind cannot make an entry look younger than new.
func (c *Cache) age(e Entry, now time.Time) time.Duration {
	return max(now.Sub(e.LoadedAt), 0)
}

func (c *Cache) fresh(e Entry, now time.Time) bool {
	ttl := c.ttl
	if !e.Found {
		ttl = c.notFoundTTL
	}
	return c.age(e, now) < ttl
}

// servableStale reports whether e may be served when loading it again failed. Only
// records are: "not found" is not repeated during an outage, since answering that a
// citizen or an enterprise does not exist when it may just have been registered is
// worse than saying the department is unavailable.
func (c *Cache) servableStale(e Entry, now time.Time) bool {
	return e.Found && c.age(e, now) < c.ttl+c.staleFor
}

// worthKeeping reports whether e can still serve in some way.
func (c *Cache) worthKeeping(e Entry, now time.Time) bool {
	return c.fresh(e, now) || c.servableStale(e, now)
}

// hit is a key answered from a fresh in-process entry.
type hit struct {
	key   string
	entry packed
}

// pending is a key this Fetch waits for.
type pending struct {
	key   string
	call  *call
	mine  bool   // this Fetch started the load
	stale *Entry // the expired in-process entry, served if the load fails
}

// Fetch serves keys of operation op from the cache and calls load only for the keys it
// lacks or holds expired, in one call for all of them.
//
// Concurrent Fetches that miss the same key share one load: a key already being loaded
// by another Fetch is awaited, not loaded again, even when the batches differ. The load
// runs detached from the caller's cancellation (context.WithoutCancel keeps its values,
// such as the request id), because others may be waiting on it; it is bounded by the
// later of the caller's deadline and LoadTimeout. A caller whose context ends stops
// waiting; the load finishes for the others and fills the cache.
//
// When the load fails, keys with a record past its TTL but within StaleFor are served
// stale (Result.Stale). If some key has nothing to serve, Fetch returns the partial
// result and an error wrapping the loader's (or the context's) error; the caller decides
// whether a partial answer is useful.
func (c *Cache) Fetch(ctx context.Context, op string, keys []string, load Loader) (Result, error) {
	return c.fetch(ctx, op, keys, func(ctx context.Context, keys []string) (map[string]Entry, error) {
		recs, err := load(ctx, keys)
		if err != nil {
			return nil, err
		}
		out := make(map[string]Entry, len(recs))
		for k, rs := range recs {
			out[k] = Entry{Records: rs, Found: true}
		}
		return out, nil
	})
}

// FetchPage serves one page (offset, limit) of op's records for key, cached as a page:
// its records and the total count, under the operation "page:"+op and a key of its own
// per page, so that a purge of all the department's entries drops pages too. It shares
// everything else with Fetch: concurrent requests for the same page make one call, and a
// page past its TTL is served stale when the department fails.
func (c *Cache) FetchPage(ctx context.Context, op, key string, offset, limit int, load PageLoader) (adapters.Page, Result, error) {
	ck := key + "|" + strconv.Itoa(offset) + "|" + strconv.Itoa(limit)
	res, err := c.fetch(ctx, "page:"+op, []string{ck}, func(ctx context.Context, _ []string) (map[string]Entry, error) {
		p, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]Entry{ck: {Records: p.Records, Total: p.Total, Found: true}}, nil
	})
	page := adapters.Page{Records: res.Records[ck], Total: res.totals[ck]}
	if _, ok := res.Records[ck]; err != nil && !ok {
		return adapters.Page{}, res, err
	}
	return page, res, nil
}

func (c *Cache) fetch(ctx context.Context, op string, keys []string, load entryLoader) (Result, error) {
	res := Result{Records: make(map[string][]adapters.Record, len(keys))}
	if len(keys) == 0 {
		return res, nil
	}
	now := c.now()
	var (
		hits   []hit
		waits  []pending
		toLoad []string
		mine   map[string]*call
		seen   map[string]struct{}
	)
	if len(keys) > 1 {
		seen = make(map[string]struct{}, len(keys))
	}

	c.mu.Lock()
	c.ops[op] = struct{}{}
	for _, k := range keys {
		if seen != nil {
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		}
		ek := entryKey{op, k}
		var stale *Entry
		if p, ok := c.entries.Get(ek); ok {
			switch e := p.meta(); {
			case c.fresh(e, now):
				// Served after unlocking: decoding records is the slow part of a hit.
				hits = append(hits, hit{k, p})
				continue
			case c.servableStale(e, now):
				e = p.entry()
				stale = &e
			default:
				c.entries.Remove(ek)
			}
		}
		if cl, ok := c.inflight[ek]; ok {
			waits = append(waits, pending{key: k, call: cl, stale: stale})
			continue
		}
		cl := &call{done: make(chan struct{})}
		c.inflight[ek] = cl
		if mine == nil {
			mine = map[string]*call{}
		}
		mine[k] = cl
		toLoad = append(toLoad, k)
		waits = append(waits, pending{key: k, call: cl, mine: true, stale: stale})
	}
	c.mu.Unlock()

	res.Hits = len(hits)
	for _, h := range hits {
		res.serve(h.key, h.entry.entry(), c.age(h.entry.meta(), now), false)
	}
	if len(waits) == 0 {
		c.stats.hits.Add(uint64(res.Hits))
		return res, nil
	}
	if len(toLoad) > 0 {
		go c.load(ctx, op, toLoad, mine, load)
	}

	c.stats.coalesced.Add(uint64(len(waits) - len(toLoad)))
	var (
		failed   int
		firstErr error
	)
	for _, p := range waits {
		select {
		case <-p.call.done:
		case <-ctx.Done():
		}
		select {
		case <-p.call.done:
		default:
			// The caller gave up waiting; the load goes on for the others.
			if p.stale != nil {
				res.serveStale(c, p.key, *p.stale)
				continue
			}
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("waiting for %s %s: %w", c.dept, op, context.Cause(ctx))
			}
			continue
		}
		cl := p.call
		switch {
		case cl.err == nil:
			if p.mine && cl.shared {
				res.Hits++
			}
			res.serve(p.key, cl.entry, c.age(cl.entry, c.now()), true)
		case newest(p.stale, cl.stale) != nil:
			res.serveStale(c, p.key, *newest(p.stale, cl.stale))
		default:
			failed++
			if firstErr == nil {
				firstErr = cl.err
			}
		}
	}
	distinct := len(keys)
	if seen != nil {
		distinct = len(seen)
	}
	res.Misses = distinct - res.Hits
	c.stats.hits.Add(uint64(res.Hits))
	c.stats.misses.Add(uint64(res.Misses))
	if failed > 0 {
		return res, fmt.Errorf("cache: %d of %d keys of %s %s could not be loaded: %w", failed, distinct, c.dept, op, firstErr)
	}
	return res, nil
}

// newest returns the more recently loaded of two possible entries.
func newest(a, b *Entry) *Entry {
	if a == nil || (b != nil && b.LoadedAt.After(a.LoadedAt)) {
		return b
	}
	return a
}

// serve adds e's answer for key to r. Callers apply policy to what they get, and the
// cached records must not change with it: records decoded from a packed entry are fresh
// already; shared ones (a load's result, which every waiter gets) are copied.
func (r *Result) serve(key string, e Entry, age time.Duration, shared bool) {
	r.MaxAge = max(r.MaxAge, age)
	if !e.Found {
		return
	}
	if e.Total != 0 {
		if r.totals == nil {
			r.totals = map[string]int{}
		}
		r.totals[key] = e.Total
	}
	if !shared {
		r.Records[key] = e.Records
		return
	}
	out := make([]adapters.Record, len(e.Records))
	for i, rec := range e.Records {
		out[i] = maps.Clone(rec)
	}
	r.Records[key] = out
}

func (r *Result) serveStale(c *Cache, key string, e Entry) {
	r.Stale = true
	c.stats.staleServes.Add(1)
	r.serve(key, e, c.age(e, c.now()), true)
}

// load fills calls for keys: from the shared layer where it holds a fresh entry, from
// the department for the rest. It runs in its own goroutine, so that a Fetch whose
// caller goes away does not take the others' load with it.
func (c *Cache) load(parent context.Context, op string, keys []string, calls map[string]*call, load entryLoader) {
	ctx, cancel := c.detach(parent)
	defer cancel()

	remaining := keys
	if got, ok := c.sharedGet(ctx, op, keys); ok {
		now := c.now()
		found := map[string]Entry{}
		remaining = make([]string, 0, len(keys))
		for _, k := range keys {
			e, ok := got[k]
			if ok && c.fresh(e, now) {
				found[k] = e
				continue
			}
			if ok && c.servableStale(e, now) {
				calls[k].stale = &e
			}
			remaining = append(remaining, k)
		}
		c.stats.sharedHits.Add(uint64(len(found)))
		c.complete(op, found, calls, true)
	}
	if len(remaining) == 0 {
		return
	}

	c.stats.loads.Add(1)
	got, err := c.callLoader(ctx, op, remaining, load)
	if err != nil {
		c.stats.loadErrors.Add(1)
		c.fail(op, remaining, calls, fmt.Errorf("loading %s %s: %w", c.dept, op, err))
		return
	}
	now := c.now()
	loaded := make(map[string]Entry, len(remaining))
	for _, k := range remaining {
		e, ok := got[k]
		loaded[k] = Entry{Records: e.Records, Total: e.Total, Found: ok, LoadedAt: now}
	}
	// The shared layer is written before the waiters are released, so that once any
	// caller has an answer, every replica can find it without asking the department.
	c.sharedSet(ctx, op, loaded, calls)
	c.complete(op, loaded, calls, false)
}

// detach gives a shared load its own lifetime: the values of the context that started
// it, but not its cancellation, and a deadline that is the later of the caller's and
// LoadTimeout from now, so a caller in a hurry does not fail those that wait longer.
func (c *Cache) detach(parent context.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(c.loadTimeout)
	if d, ok := parent.Deadline(); ok && d.After(deadline) {
		deadline = d
	}
	return context.WithDeadline(context.WithoutCancel(parent), deadline)
}

// callLoader runs load, turning a panic into an error: the load runs on a goroutine of
// its own, where a panic would otherwise end the process rather than one request.
func (c *Cache) callLoader(ctx context.Context, op string, keys []string, load entryLoader) (got map[string]Entry, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "cache: loader panicked", slog.String("op", op), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("%w: loader for %s %s panicked: %v", adapters.ErrUnavailable, c.dept, op, r)
		}
	}()
	return load(ctx, keys)
}

// complete stores entries and releases the Fetches waiting for them.
func (c *Cache) complete(op string, entries map[string]Entry, calls map[string]*call, fromShared bool) {
	if len(entries) == 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range entries {
		cl := calls[k]
		ek := entryKey{op, k}
		if c.inflight[ek] == cl {
			delete(c.inflight, ek)
		}
		if !cl.noStore && c.worthKeeping(e, now) {
			c.stats.evictions.Add(uint64(c.store(ek, e)))
		}
		cl.entry, cl.shared = e, fromShared
		close(cl.done)
	}
}

// fail releases the Fetches waiting for keys with err.
func (c *Cache) fail(op string, keys []string, calls map[string]*call, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		cl := calls[k]
		ek := entryKey{op, k}
		if c.inflight[ek] == cl {
			delete(c.inflight, ek)
		}
		cl.err = err
		close(cl.done)
	}
}

// Purge drops the entries of keys, under every operation, or all entries when keys is
// empty, and returns how many in-process entries it dropped. Loads in flight for those
// keys are not kept. With a shared layer it also drops the keys there and tells the
// other replicas to drop theirs; if that fails the error says so, and the other
// replicas may serve their entries until those expire.
func (c *Cache) Purge(ctx context.Context, keys []string) (int, error) {
	dropped := c.purgeLocal(keys)
	if c.shared == nil {
		return len(dropped), nil
	}
	shared, err := c.shared.Purge(ctx, c.dept, keys)
	if err != nil {
		c.stats.sharedErrors.Add(1)
		return len(dropped), &SharedPurgeError{Department: c.dept, Local: len(dropped), Err: err}
	}
	// An entry held here and in the shared layer is one record, counted once.
	for _, e := range shared {
		dropped[entryKey{e[0], e[1]}] = struct{}{}
	}
	return len(dropped), nil
}

// SharedPurgeError is a purge that dropped this replica's entries but could not reach
// the shared layer, so the other replicas keep theirs until they expire.
type SharedPurgeError struct {
	Department string
	Local      int // entries dropped on this replica
	Err        error
}

func (e *SharedPurgeError) Error() string {
	return fmt.Sprintf("cache: purging %s in the shared layer (other replicas keep their entries until they expire): %v", e.Department, e.Err)
}

func (e *SharedPurgeError) Unwrap() error { return e.Err }

// purgeLocal drops entries of this replica and returns those it dropped.
func (c *Cache) purgeLocal(keys []string) map[entryKey]struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	dropped := map[entryKey]struct{}{}
	if len(keys) == 0 {
		for _, ek := range c.entries.Keys() {
			dropped[ek] = struct{}{}
		}
		c.entries.Purge()
		for ek, cl := range c.inflight {
			cl.noStore = true
			delete(c.inflight, ek)
		}
		return dropped
	}
	for _, k := range keys {
		for op := range c.ops {
			ek := entryKey{op, k}
			if c.entries.Remove(ek) {
				dropped[ek] = struct{}{}
			}
			if cl, ok := c.inflight[ek]; ok {
				cl.noStore = true
				delete(c.inflight, ek)
			}
		}
	}
	return dropped
}

func (c *Cache) sharedUsable() bool {
	return c.shared != nil && c.now().UnixNano() >= c.sharedRetryAt.Load()
}

// sharedFailed counts and logs a shared-layer failure and bypasses the layer for a
// while: a slow Redis must not add its timeout to every request.
func (c *Cache) sharedFailed(ctx context.Context, what string, err error) {
	c.stats.sharedErrors.Add(1)
	c.sharedRetryAt.Store(c.now().Add(sharedBackoff).UnixNano())
	c.logs.Warn(ctx, c.log, "shared-"+what, "cache: shared layer failed; serving from this replica and the department",
		slog.String("during", what), slog.Any("error", err), slog.Duration("bypassedFor", sharedBackoff))
}

func (c *Cache) sharedGet(ctx context.Context, op string, keys []string) (map[string]Entry, bool) {
	if !c.sharedUsable() {
		return nil, false
	}
	got, err := c.shared.Get(ctx, c.dept, op, keys)
	if err != nil {
		c.sharedFailed(ctx, "get", err)
		return nil, false
	}
	return got, true
}

func (c *Cache) sharedSet(ctx context.Context, op string, loaded map[string]Entry, calls map[string]*call) {
	if !c.sharedUsable() {
		return
	}
	keep := make(map[string]Entry, len(loaded))
	c.mu.Lock()
	for k, e := range loaded {
		if !calls[k].noStore {
			keep[k] = e
		}
	}
	c.mu.Unlock()
	if len(keep) == 0 {
		return
	}
	// Entries live in the shared layer as long as any replica might serve them.
	if err := c.shared.Set(ctx, c.dept, op, keep, c.ttl+c.staleFor); err != nil {
		c.sharedFailed(ctx, "set", err)
	}
}

// Peek returns key's records if the in-process layer holds them fresh, without loading
// or waiting: the fast path that lets a warm request skip the loaders' batching window.
// found reports whether the department knows the key (a cached "not found" is ok with
// found false).
func (c *Cache) Peek(op, key string) (recs []adapters.Record, found bool, age time.Duration, ok bool) {
	now := c.now()
	c.mu.Lock()
	p, hit := c.entries.Get(entryKey{op, key})
	c.mu.Unlock()
	if !hit || !c.fresh(p.meta(), now) {
		return nil, false, 0, false
	}
	c.stats.hits.Add(1)
	e := p.entry()
	return e.Records, e.Found, c.age(e, now), true
}

// Fresh reports whether the in-process layer holds key fresh, without serving it: for a
// caller deciding whether a lookup needs loading at all.
func (c *Cache) Fresh(op, key string) bool {
	now := c.now()
	c.mu.Lock()
	p, ok := c.entries.Peek(entryKey{op, key})
	c.mu.Unlock()
	return ok && c.fresh(p.meta(), now)
}
