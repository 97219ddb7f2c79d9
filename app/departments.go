package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/adapters/csvdrop"
	"pudong.gov.cn/gateway/adapters/rest"
	"pudong.gov.cn/gateway/adapters/soap"
	"pudong.gov.cn/gateway/adapters/sqldb"
	"pudong.gov.cn/gateway/cache"
	rediscache "pudong.gov.cn/gateway/cache/redis"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/metrics"
	"pudong.gov.cn/gateway/policy"
)

// departments binds every configured department: its adapter, its record cache (shared
// through Redis when configured) and the federation's protections around both.
func (g *Gateway) departments(ctx context.Context) (*federation.Federation, error) {
	transport := &http.Transport{
		Proxy:               nil, // department systems are reached directly, never through a proxy
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{Transport: transport}
	g.onClose("department connections", func(context.Context) error { transport.CloseIdleConnections(); return nil })
	if g.Tracing != nil {
		client.Transport = g.Tracing.Transport(transport) // traceparent on to the departments
	}
	shared, err := g.sharedCache()
	if err != nil {
		return nil, err
	}
	listenCtx, stopListen := context.WithCancel(context.WithoutCancel(ctx))
	g.onClose("cache listeners", func(context.Context) error { stopListen(); return nil })
	var depts []*federation.Department
	for i, d := range g.cfg.Departments {
		dept, err := g.department(ctx, listenCtx, d, client, shared)
		if err != nil {
			return nil, fmt.Errorf("%s: department %s: %w", g.cfg.At(fmt.Sprintf("departments[%d]", i)), d.ID, err)
		}
		depts = append(depts, dept)
	}
	fed, err := federation.New(depts, g.cfg.Sources, g.cfg.Limits.BatchWait)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	return fed, nil
}

// department binds one department: adapter, cache, metrics.
func (g *Gateway) department(ctx, listenCtx context.Context, d config.Department, client *http.Client, shared cache.Shared) (*federation.Department, error) {
	src, c, err := OpenSource(ctx, withIndexDir(d, g.cfg.DataDir), client, g.log)
	if err != nil {
		return nil, err
	}
	if c != nil {
		g.onClose("department "+d.ID, func(context.Context) error { return c.Close() })
	}
	if drop, ok := src.(*csvdrop.Source); ok {
		registerCSVMetrics(g.metrics, d.ID, drop)
	}
	o := federation.Options{Cache: g.recordCache(listenCtx, d.ID, shared), Observer: g.metrics, Log: g.log,
		Cycle: departmentTTL(g.Catalog, d.ID)}
	if g.Tracing != nil {
		o.Tracer = g.Tracing.Tracer() // department spans
	}
	return federation.NewDepartment(d, src, o), nil
}

// registerCSVMetrics exports a CSV department's rejections by reason and the age of the
// export it serves (docs/operators.md, "CSV exports").
func registerCSVMetrics(m *metrics.Metrics, dept string, drop *csvdrop.Source) {
	for _, reason := range csvdrop.Reasons {
		m.CounterFunc("gateway_csv_rejected_exports_total", "Exports rejected whole, by reason: malformed, incomplete (fewer rows or other bytes than the marker promises), shrunk (beyond maxShrink); the previous export keeps serving.",
			prometheus.Labels{"department": dept, "reason": reason}, func() float64 { return float64(drop.RejectedFor(reason)) })
	}
	m.GaugeFunc("gateway_csv_export_age_seconds", "Age of the export being served (since its file was written); 0 before the first.",
		prometheus.Labels{"department": dept}, func() float64 {
			if at := drop.SnapshotTime(); !at.IsZero() {
				return time.Since(at).Seconds()
			}
			return 0
		})
}

// withIndexDir gives a CSV department whose binding names no index directory one under
// the gateway's data directory, which is the gateway's own and kept across restarts: the
// drop directory is often a share the gateway may only read (examples/production.yaml).
func withIndexDir(d config.Department, dataDir string) config.Department {
	if d.Protocol != config.ProtocolCSV {
		return d
	}
	for _, op := range d.Operations {
		if _, ok := op.Params[csvdrop.ParamIndexDir]; ok {
			return d
		}
	}
	ops := make(map[string]config.Operation, len(d.Operations))
	for name, op := range d.Operations {
		op.Params = maps.Clone(op.Params)
		if op.Params == nil {
			op.Params = map[string]string{}
		}
		op.Params[csvdrop.ParamIndexDir] = filepath.Join(dataDir, "csv-index", d.ID)
		ops[name] = op
	}
	d.Operations = ops
	return d
}

// recordCache is a department's record cache, nil when caching is off. With a shared
// layer it also listens for other replicas' purges until Close.
func (g *Gateway) recordCache(listenCtx context.Context, dept string, shared cache.Shared) *cache.Cache {
	cc := g.cfg.Cache
	if cc.Disabled {
		return nil
	}
	c := cache.New(cache.Options{
		Department: dept, TTL: departmentTTL(g.Catalog, dept), MaxRecords: cc.MaxRecords, MaxBytes: cc.MaxBytes,
		NotFoundTTL: cc.NotFoundTTL, StaleFor: cc.StaleFor, Shared: shared, Log: g.log,
	})
	registerCacheMetrics(g.metrics, c)
	if shared != nil {
		go func() {
			if err := c.Listen(listenCtx); err != nil && listenCtx.Err() == nil {
				g.log.Warn("purge notices from other replicas are not received yet; retrying", "department", dept, "err", err)
			}
		}()
	}
	return c
}

// sharedCache is the Redis layer of the record caches, nil when none is configured.
func (g *Gateway) sharedCache() (cache.Shared, error) {
	cc := g.cfg.Cache
	if cc.RedisAddr == "" || cc.Disabled {
		return nil, nil
	}
	opts, err := rediscache.ClientOptions(cc.RedisAddr)
	if err != nil {
		return nil, fmt.Errorf("cache.redisAddr: %w", err)
	}
	goredis.SetLogger(rediscache.Logger(g.log)) // go-redis's one logger per process
	client := goredis.NewClient(opts)
	g.onClose("redis", func(context.Context) error { return client.Close() })
	g.log.Info("shared record cache", "redis", opts.Addr)
	return rediscache.New(client, cc.RedisPrefix, g.log), nil
}

// OpenSource builds a department's adapter by its protocol: departments are bindings in
// configuration, protocols are packages. The closer, when not nil, releases the
// adapter's resources.
func OpenSource(ctx context.Context, d config.Department, client *http.Client, log *slog.Logger) (adapters.Source, io.Closer, error) {
	switch d.Protocol {
	case config.ProtocolSOAP:
		s, err := soap.New(d, client)
		return s, nil, err
	case config.ProtocolREST:
		s, err := rest.New(d, client)
		return s, nil, err
	case config.ProtocolSQL:
		s, err := sqldb.Open(d)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	case config.ProtocolCSV:
		s, err := csvdrop.Open(ctx, d, log) // the adapter names its department itself
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	return nil, nil, fmt.Errorf("protocol %q has no adapter (%s)", d.Protocol, strings.Join(config.Protocols, ", "))
}

// departmentTTL is how long a department's records may be cached: the shortest update
// cycle among its catalogue entries.
func departmentTTL(c *policy.Catalog, dept string) time.Duration {
	var ttl time.Duration
	for _, e := range c.Entries(dept) {
		if e.TTL > 0 && (ttl == 0 || e.TTL < ttl) {
			ttl = e.TTL
		}
	}
	return ttl
}

func registerCacheMetrics(m *metrics.Metrics, c *cache.Cache) {
	labels := prometheus.Labels{"department": c.Department()}
	stat := func(f func(cache.Stats) uint64) func() float64 {
		return func() float64 { return float64(f(c.Stats())) }
	}
	m.CounterFunc("gateway_cache_hits_total", "Keys answered from the record cache.", labels, stat(func(s cache.Stats) uint64 { return s.Hits }))
	m.CounterFunc("gateway_cache_misses_total", "Keys the record cache had to load.", labels, stat(func(s cache.Stats) uint64 { return s.Misses }))
	m.CounterFunc("gateway_cache_evictions_total", "Records evicted to keep the cache within its bound.", labels, stat(func(s cache.Stats) uint64 { return s.Evictions }))
	m.CounterFunc("gateway_cache_stale_serves_total", "Keys served stale because the department failed.", labels, stat(func(s cache.Stats) uint64 { return s.StaleServes }))
	m.CounterFunc("gateway_cache_coalesced_total", "Keys awaited from another request's load instead of loaded again.", labels, stat(func(s cache.Stats) uint64 { return s.CoalescedWaits }))
	m.CounterFunc("gateway_cache_shared_hits_total", "Keys found in the shared (Redis) layer.", labels, stat(func(s cache.Stats) uint64 { return s.SharedHits }))
	m.CounterFunc("gateway_cache_shared_errors_total", "Failed calls to the shared (Redis) layer.", labels, stat(func(s cache.Stats) uint64 { return s.SharedErrors }))
	m.GaugeFunc("gateway_cache_entries", "Entries held in the in-process record cache.", labels, func() float64 { return float64(c.Stats().Entries) })
	m.GaugeFunc("gateway_cache_bytes", "Memory of the entries held in the in-process record cache, as bounded by cache.maxBytes.", labels, func() float64 { return float64(c.Stats().Bytes) })
}
