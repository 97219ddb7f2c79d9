// Package federation is the layer between the resolvers and the protocol adapters: one
// Department per bound system — its record cache first, then batch splitting and the
// protections every protocol shares (timeout, bulkhead, circuit breaker, retries) — and
// the per-request loaders that batch a request's lookups into as few calls as possible.
package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/cache"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
	"pudong.gov.cn/gateway/resilience"
)

// SourceError is a department failure as clients see it: on that department's fields
// only, with the department named.
type SourceError struct {
	Department string
	Code       string // errcode.SourceUnavailable or errcode.SourceError
	Err        error
}

func (e *SourceError) Error() string {
	if e.Code == errcode.SourceError {
		return fmt.Sprintf("department %s answered with data the gateway cannot read; its fields are unavailable for now", e.Department)
	}
	return fmt.Sprintf("department %s is unavailable; its fields are missing from this answer, try again later", e.Department)
}

func (e *SourceError) Unwrap() error { return e.Err }

// Extensions are what a client reads beside the message: the code and the department
// (errcode.Presenter presents them).
func (e *SourceError) Extensions() map[string]any {
	return map[string]any{"code": e.Code, "department": e.Department}
}

// NotOfferedError is a field that needs a lookup the deployment declared not offered
// (sources: LOOKUP: none).
type NotOfferedError struct {
	Lookup string // its name in sources, e.g. enterpriseList
}

func (e *NotOfferedError) Error() string {
	return fmt.Sprintf("no department of this deployment offers the %s lookup (sources.%s: none), so this field cannot be answered here", e.Lookup, e.Lookup)
}

// Extensions are the code and the lookup that is not offered (errcode.Presenter
// presents them).
func (e *NotOfferedError) Extensions() map[string]any {
	return map[string]any{"code": errcode.SourceNotOffered, "source": e.Lookup}
}

// Observer is told of every upstream call, for metrics.
type Observer interface {
	Upstream(dept, op string, d time.Duration, err error)
	BreakerState(dept string, state float64)
}

// Department is one department system behind its adapter, with the protections every
// protocol shares and its record cache.
type Department struct {
	ID   string
	Name string

	cfg       config.Department
	raw       adapters.Source
	protected *resilience.Source
	cache     *cache.Cache // nil: no caching
	obs       Observer
	tracer    trace.Tracer      // nil: no spans
	snapshot  adapters.Snapshot // nil unless the adapter serves a copy (a batch export)
	cycle     time.Duration
	log       *slog.Logger
}

// Options are what a Department needs besides its binding and adapter.
type Options struct {
	Cache    *cache.Cache // nil: every lookup asks the department
	Observer Observer     // nil: no metrics
	Tracer   trace.Tracer // nil: no spans (see trace.go)
	Log      *slog.Logger
	// Cycle is the owner's update cycle. An adapter that serves a copy of the data
	// (adapters.Snapshot) older than that is reported stale in extensions.sources, as
	// a cached record served past its TTL is; zero: never.
	Cycle time.Duration
}

// NewDepartment wraps an adapter with the binding's limits and the cache.
func NewDepartment(cfg config.Department, src adapters.Source, o Options) *Department {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &Department{ID: cfg.ID, Name: cfg.Name, cfg: cfg, raw: src, cache: o.Cache, obs: o.Observer, tracer: o.Tracer, cycle: o.Cycle, log: o.Log}
	d.snapshot, _ = src.(adapters.Snapshot)
	inner := src
	if d.tracer != nil {
		inner = traced(d, src)
	}
	d.protected = resilience.Wrap(inner, resilience.Options{
		Department:  cfg.ID,
		Timeout:     cfg.Timeout,
		Concurrency: cfg.Concurrency,
		Retries:     cfg.Retries,
		Breaker:     resilience.BreakerOptions{Failures: cfg.BreakerFailures, OpenFor: cfg.BreakerOpenFor},
		Log:         o.Log,
		OnStateChange: func(dept string, from, to resilience.State) {
			if d.obs != nil {
				d.obs.BreakerState(dept, float64(to))
			}
		},
	})
	if d.obs != nil {
		d.obs.BreakerState(cfg.ID, 0)
	}
	return d
}

// Source returns the adapter itself, for tests and operations that need its own API.
func (d *Department) Source() adapters.Source { return d.raw }

// State is the department's circuit breaker state, for readiness.
func (d *Department) State() resilience.State { return d.protected.State() }

// Cache returns the department's record cache, or nil.
func (d *Department) Cache() *cache.Cache { return d.cache }

func (d *Department) batchSize(op string) int {
	if n := d.cfg.Operations[op].Batch; n > 0 {
		return n
	}
	return 1
}

// HasOperation reports whether the binding defines op.
func (d *Department) HasOperation(op string) bool {
	_, ok := d.cfg.Operations[op]
	return ok
}

// Fetch looks keys up with op: from the cache where it holds them fresh, and from the
// department for the rest, in chunks of the operation's batch size. Keys the department
// does not know are absent from the result. On failure the error is a *SourceError and
// the result holds what could still be served (from the cache, possibly stale).
func (d *Department) Fetch(ctx context.Context, op string, keys []string) (_ map[string][]adapters.Record, err error) {
	if len(keys) == 0 {
		return map[string][]adapters.Record{}, nil
	}
	if d.cache == nil {
		if d.tracer != nil {
			var span trace.Span
			ctx, span = d.startLookup(ctx, op, len(keys))
			defer func() { endLookup(span, 0, len(keys), false, err) }()
		}
		got, err := d.upstream(ctx, op, keys)
		failed := unanswered(keys, got, err)
		d.noteFreshness(ctx, 0, len(keys)-failed, failed, 0, false)
		return got, err
	}
	var res cache.Result
	if d.tracer != nil {
		var span trace.Span
		ctx, span = d.startLookup(ctx, op, len(keys))
		defer func() { endLookup(span, res.Hits, res.Misses, res.Stale, err) }()
	}
	res, err = d.cache.Fetch(ctx, op, keys, func(ctx context.Context, keys []string) (map[string][]adapters.Record, error) {
		return d.upstream(ctx, op, keys)
	})
	failed := unanswered(keys, res.Records, err)
	d.noteFreshness(ctx, res.Hits, max(res.Misses-failed, 0), failed, res.MaxAge, res.Stale)
	if err != nil {
		return res.Records, d.wrap(err)
	}
	return res.Records, nil
}

// upstream asks the department, in batch-size chunks that run concurrently (the
// bulkhead bounds how many are in flight).
func (d *Department) upstream(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	size := d.batchSize(op)
	if len(keys) <= size {
		return d.call(ctx, op, keys)
	}
	var (
		mu       sync.Mutex
		out      = make(map[string][]adapters.Record, len(keys))
		firstErr error
		wg       sync.WaitGroup
	)
	for start := 0; start < len(keys); start += size {
		chunk := keys[start:min(start+size, len(keys))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := d.call(ctx, op, chunk)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			for k, v := range got {
				out[k] = v
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func (d *Department) call(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	start := time.Now()
	var got map[string][]adapters.Record
	var err error
	if d.tracer != nil {
		got, err = traceCall(d, ctx, op, len(keys), func(ctx context.Context) (map[string][]adapters.Record, error) {
			return d.protected.Fetch(ctx, op, keys)
		})
	} else {
		got, err = d.protected.Fetch(ctx, op, keys)
	}
	if d.obs != nil {
		d.obs.Upstream(d.ID, op, time.Since(start), err)
	}
	if err != nil {
		d.logFailure(ctx, op, err)
		return nil, d.wrap(err)
	}
	return got, nil
}

// logFailure tells the operator why a department call failed: the caller only sees
// SOURCE_UNAVAILABLE, and a wrong password or a missing table is the operator's to fix
// (docs/operators.md, Logs). A caller that left and a refusal of the open breaker
// (whose opening is logged already) are not the department's failures.
func (d *Department) logFailure(ctx context.Context, op string, err error) {
	level := slog.LevelError
	if ctx.Err() != nil || errors.Is(err, resilience.ErrOpen) {
		level = slog.LevelDebug
	}
	d.log.Log(ctx, level, "department call failed", "department", d.ID, "op", op, "err", err)
}

// Page lists one page of op's records for key. Pages are cached as pages (records and
// total) under the operation "page:" + op; a purge of all the department's records
// drops them too.
func (d *Department) Page(ctx context.Context, op, key string, offset, limit int) (_ adapters.Page, err error) {
	if !d.protected.CanPage() {
		return adapters.Page{}, fmt.Errorf("department %s cannot list records page by page", d.ID)
	}
	var res cache.Result
	if d.tracer != nil {
		var span trace.Span
		ctx, span = d.startLookup(ctx, op, 1)
		defer func() {
			if d.cache == nil {
				res.Misses = 1
			}
			endLookup(span, res.Hits, res.Misses, res.Stale, err)
		}()
	}
	load := func(ctx context.Context) (adapters.Page, error) {
		start := time.Now()
		var p adapters.Page
		var err error
		if d.tracer != nil {
			p, err = traceCall(d, ctx, op, 1, func(ctx context.Context) (adapters.Page, error) {
				return d.protected.Page(ctx, op, key, offset, limit)
			})
		} else {
			p, err = d.protected.Page(ctx, op, key, offset, limit)
		}
		if d.obs != nil {
			d.obs.Upstream(d.ID, op, time.Since(start), err)
		}
		if err != nil {
			d.logFailure(ctx, op, err)
			return adapters.Page{}, d.wrap(err)
		}
		return p, nil
	}
	if d.cache == nil {
		p, err := load(ctx)
		if err != nil {
			d.noteFreshness(ctx, 0, 0, 1, 0, false)
		} else {
			d.noteFreshness(ctx, 0, 1, 0, 0, false)
		}
		return p, err
	}
	var p adapters.Page
	p, res, err = d.cache.FetchPage(ctx, op, key, offset, limit, load)
	failed := 0
	if err != nil {
		failed = 1 // nothing to serve, not even stale
	}
	d.noteFreshness(ctx, res.Hits, max(res.Misses-failed, 0), failed, res.MaxAge, res.Stale)
	if err != nil {
		return adapters.Page{}, d.wrap(err)
	}
	return p, nil
}

// cached returns key's records when the department's cache holds them fresh, without
// loading or waiting: what lets a warm read skip the loaders' batching window. It is a
// read of the cache, not a way of merging lookups: a miss goes through the loaders.
func (d *Department) cached(ctx context.Context, op, key string) ([]adapters.Record, bool) {
	if d.cache == nil {
		return nil, false
	}
	recs, _, age, ok := d.cache.Peek(op, key)
	if ok {
		d.noteFreshness(ctx, 1, 0, 0, age, false)
	}
	return recs, ok
}

// noteFreshness reports what a lookup was served from. For an adapter that serves a
// copy, the copy's own age counts: a record read a second ago from last week's export
// is a week old, and stale once the owner's cycle has passed without a newer export
// (docs/operators.md, "CSV exports").
func (d *Department) noteFreshness(ctx context.Context, hits, fetched, failed int, age time.Duration, stale bool) {
	if d.snapshot != nil {
		if at := d.snapshot.SnapshotTime(); !at.IsZero() {
			a := max(time.Since(at), 0)
			age = max(age, a)
			stale = stale || (d.cycle > 0 && a > d.cycle)
		}
	}
	noteFreshness(ctx, d.ID, hits, fetched, failed, age, stale)
}

// Purge drops cached records of this department: all, or those of some keys.
func (d *Department) Purge(ctx context.Context, keys []string) (int, error) {
	if d.cache == nil {
		return 0, nil
	}
	return d.cache.Purge(ctx, keys)
}

func (d *Department) wrap(err error) error {
	var se *SourceError
	if errors.As(err, &se) {
		return err
	}
	code := errcode.SourceUnavailable
	if errors.Is(err, adapters.ErrBadResponse) {
		code = errcode.SourceError
	}
	return &SourceError{Department: d.ID, Code: code, Err: err}
}

// Purge drops cached records of one department, for its owner's console.
func (f *Federation) Purge(ctx context.Context, dept string, keys []string) (int, error) {
	d := f.depts[dept]
	if d == nil {
		return 0, fmt.Errorf("no department %q is bound (%s)", dept, strings.Join(f.ids(), ", "))
	}
	return d.Purge(ctx, keys)
}

func (f *Federation) ids() []string {
	out := make([]string, len(f.order))
	for i, d := range f.order {
		out[i] = d.ID
	}
	return out
}
