package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/adapters/csvdrop"
	"pudong.gov.cn/gateway/adapters/rest"
	"pudong.gov.cn/gateway/adapters/soap"
	"pudong.gov.cn/gateway/adapters/sqldb"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/auth"
	"pudong.gov.cn/gateway/cache"
	rediscache "pudong.gov.cn/gateway/cache/redis"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/logging"
	"pudong.gov.cn/gateway/metrics"
	"pudong.gov.cn/gateway/playground"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/resolvers"
	"pudong.gov.cn/gateway/server"
	"pudong.gov.cn/gateway/sharing"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/postgres"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/tracing"
)

const serveHelp = `
gateway [--addr ADDR] [--data DIR] [--config FILE]

Serves the gateway. Without --config it starts in demo mode: the four department
simulators in-process, SQLite and a generated signing key under --data.
`

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("gateway", usage+serveHelp, stdout)
	var f commonFlags
	f.register(fs, getenv, true)
	size := dataset.DefaultSize
	fs.IntVar(&size.Citizens, "sim-citizens", size.Citizens, "demo mode: bulk citizens the simulators generate besides the fixtures")
	fs.IntVar(&size.Enterprises, "sim-enterprises", size.Enterprises, "demo mode: bulk enterprises")
	fs.IntVar(&size.CreditRecords, "sim-credit-records", size.CreditRecords, "demo mode: bulk credit records")
	noCache := fs.Bool("no-cache", false, "demo mode: disable the record cache (cold-path measurements)")
	noAudit := fs.Bool("bench-no-audit", false, "demo mode only: do not record audit events (throughput comparison; never in production)")
	noRateLimit := fs.Bool("bench-no-rate-limit", false, "demo mode only: turn rate limits off (load tests)")
	pprofOn := fs.Bool("pprof", false, "serve /debug/pprof/ to the cio-console and department consoles (admin only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unknown command %q; see gateway --help", fs.Arg(0))
	}
	cfg, err := loadConfig(f.config, f.data)
	if err != nil {
		return err
	}
	if f.addr != "" {
		cfg.Addr = f.addr
	}
	if *noCache {
		cfg.Cache.Disabled = true
	}
	if *noAudit {
		if !cfg.Demo {
			return fmt.Errorf("--bench-no-audit is for demo-mode measurements only")
		}
		cfg.BenchNoAudit = true
	}
	if *noRateLimit {
		if !cfg.Demo {
			return fmt.Errorf("--bench-no-rate-limit is for demo-mode load tests only; set limits.rateLimitsOff in a configuration file")
		}
		cfg.Limits.RateLimitsOff = true
	}
	cfg.Pprof = *pprofOn
	cfg.Tracing = resolveTracing(cfg.Tracing, getenv)
	log := newLogger(cfg.Log, stdout)

	var closers closeStack
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		closers.closeAll(shutdownCtx, log)
	}()

	if cfg.Demo {
		sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(cfg.DataDir, "sim"), Size: size, Log: log})
		if err != nil {
			return fmt.Errorf("starting the department simulators: %w", err)
		}
		closers.push("simulators", func(ctx context.Context) error { sims.Close(ctx); return nil })
		cfg.Departments = sims.Bindings
		for _, d := range sims.Bindings {
			log.Info("department simulator started", "department", d.ID, "protocol", d.Protocol, "addr", sims.Addrs[d.ID])
		}
	}

	gw, err := assemble(ctx, cfg, log, &closers)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           gw.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mode := "production"
	if cfg.Demo {
		mode = "demo"
	}
	url := "http://" + ln.Addr().String()
	log.Info("gateway listening", "mode", mode, "addr", ln.Addr().String(), "graphql", url+"/graphql", "playground", url+"/")
	if cfg.Demo {
		fmt.Fprintf(stdout, "\n  Playground: %s/\n  GraphQL:    %s/graphql\n  Get a token: go run ./cmd/gateway token --consumer online-hall --data %s\n\n", url, url, cfg.DataDir)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", "err", err)
	}
	return nil
}

// loadConfig reads the production file, or builds the demo configuration.
func loadConfig(path, dataDir string) (*config.Config, error) {
	if path == "" {
		return config.Demo(dataDir)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	return logging.New(w, c.Format, c.Level)
}

// gatewayParts are the assembled gateway, for the server and for tests.
type gatewayParts struct {
	handler  http.Handler
	fed      *federation.Federation
	store    store.Store
	sharing  *sharing.Service
	recorder *audit.Recorder
	catalog  *policy.Catalog
	tracing  *tracing.Tracing // nil: tracing off
}

// assemble wires the gateway from its configuration: adapters, federation, catalogue,
// store, audit, grants, identity, policy and HTTP.
func assemble(ctx context.Context, cfg *config.Config, log *slog.Logger, closers *closeStack) (*gatewayParts, error) {
	client := &http.Client{Transport: &http.Transport{
		Proxy:               nil, // department systems are reached directly, never through a proxy
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
	catalog, err := loadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	tr, err := startTracing(ctx, cfg, log, closers)
	if err != nil {
		return nil, err
	}
	limiter, err := newLimiter(cfg, log, m, closers) // rate limits; shared by replicas through Redis
	if err != nil {
		return nil, err
	}
	var tracer trace.Tracer // nil: no department spans
	if tr != nil {
		tracer = tr.Tracer()
		client.Transport = tr.Transport(client.Transport) // traceparent on to the departments
	}

	var shared cache.Shared
	if cfg.Cache.RedisAddr != "" && !cfg.Cache.Disabled {
		opts, err := rediscache.ClientOptions(cfg.Cache.RedisAddr)
		if err != nil {
			return nil, fmt.Errorf("cache.redisAddr: %w", err)
		}
		client := goredis.NewClient(opts)
		closers.push("redis", func(context.Context) error { return client.Close() })
		shared = rediscache.New(client, cfg.Cache.RedisPrefix, log)
		log.Info("shared record cache", "redis", opts.Addr)
	}
	listenCtx, stopListen := context.WithCancel(context.WithoutCancel(ctx))
	closers.push("cache listeners", func(context.Context) error { stopListen(); return nil })

	var depts []*federation.Department
	for _, d := range cfg.Departments {
		src, closer, err := openSource(ctx, d, client, log)
		if err != nil {
			return nil, fmt.Errorf("department %s: %w", d.ID, err)
		}
		if closer != nil {
			closers.push("department "+d.ID, func(context.Context) error { return closer.Close() })
		}
		var c *cache.Cache
		if !cfg.Cache.Disabled {
			c = cache.New(cache.Options{
				Department: d.ID, TTL: departmentTTL(catalog, d.ID), MaxRecords: cfg.Cache.MaxRecords,
				NotFoundTTL: cfg.Cache.NotFoundTTL, StaleFor: cfg.Cache.StaleFor, Shared: shared, Log: log,
			})
			registerCacheMetrics(m, c)
			if shared != nil {
				go func() {
					if err := c.Listen(listenCtx); err != nil && listenCtx.Err() == nil {
						log.Warn("purge notices from other replicas are not received yet; retrying", "department", d.ID, "err", err)
					}
				}()
			}
		}
		if drop, ok := src.(*csvdrop.Source); ok {
			m.CounterFunc("gateway_csv_rejected_exports_total", "Malformed exports rejected whole (the previous export keeps serving).",
				prometheus.Labels{"department": d.ID}, func() float64 { return float64(drop.Rejected()) })
		}
		depts = append(depts, federation.NewDepartment(d, src, federation.Options{Cache: c, Observer: m, Tracer: tracer, Log: log}))
	}
	fed, err := federation.New(depts, cfg.Sources, cfg.Limits.BatchWait)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	closers.push("store", func(context.Context) error { return st.Close() })
	recorder := audit.NewRecorder(st, audit.Options{}, log)
	closers.push("audit", recorder.Close)

	svc, err := sharing.New(ctx, sharing.Options{
		Store: st, Catalog: catalog, Consumers: cfg.Consumers, DeadlineDays: cfg.Sharing.DeadlineWorkingDays,
		Purger: fed, Caller: auth.CallerFrom, Log: log,
	})
	if err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	go svc.Watch(watchCtx, 30*time.Second)
	closers.push("grant watcher", func(context.Context) error { stopWatch(); return nil })

	verifier, err := newVerifier(cfg, log)
	if err != nil {
		return nil, err
	}
	closers.push("token keys", func(context.Context) error { verifier.Close(); return nil })
	if cfg.Auth.JWKSURL != "" {
		m.CounterFunc("gateway_jwks_fetch_failures_total", "Failed fetches of the identity provider's key set (auth.jwksURL); the last good set stays in use.", nil,
			func() float64 { return float64(verifier.JWKSFetchFailures()) })
	}

	registerAuditMetrics(m, recorder)
	eo := enforce.Options{Catalog: catalog, Grants: svc.Grants, Recorder: timedRecorder{recorder, m}, Observer: m, Log: log, Caller: auth.CallerFrom}
	if tr != nil {
		eo.Recorder = tr.Recorder(eo.Recorder)
	}
	if cfg.BenchNoAudit {
		eo.Recorder = nil
		log.Warn("audit recording is OFF (--bench-no-audit): for throughput comparisons only")
	}
	enf := enforce.New(eo)
	res := &resolvers.Resolver{Fed: fed, Planner: enf, Admin: svc, MaxPageSize: cfg.Limits.PageSize}
	var manifest server.Manifest
	if cfg.Allowlist != "" {
		path := cfg.Allowlist
		if cfg.Path != "" && !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(cfg.Path), path)
		}
		if manifest, err = server.LoadManifest(path); err != nil {
			return nil, err
		}
		log.Info("allowlist loaded", "operations", len(manifest))
	}
	extensions := []graphql.HandlerExtension{m, federation.FreshnessExtension{}}
	if tr != nil {
		extensions = append([]graphql.HandlerExtension{tr.Extension()}, extensions...)
	}
	gql := server.NewGraphQL(server.GraphQLOptions{Resolvers: res, Enforcer: enf, Limits: cfg.Limits, Introspection: cfg.Introspection, Log: log,
		Extensions: extensions,
		Manifest:   manifest,
		AllowlistOnly: func(consumer string) bool {
			c := cfg.Consumer(consumer)
			return c != nil && c.AllowlistOnly
		},
		Caller: auth.CallerFrom,
	})
	origins := map[string][]string{}
	for _, c := range cfg.Consumers {
		origins[c.Name] = c.Origins
	}
	callerOf := func(r *http.Request) *gateway.Caller { return auth.CallerFrom(r.Context()) }

	deps := server.Deps{
		Log:       log,
		GraphQL:   gql,
		Auth:      auth.Middleware(verifier, log),
		Fed:       fed,
		BodyLimit: cfg.Limits.BodyBytes,
		Metrics:   m.Handler(),
		Requests:  m,
		CORS:      &server.CORS{Origins: origins, Caller: callerOf},
		Claims: server.ClaimsCheck(func(name string) (server.ConsumerProfile, bool) {
			c := cfg.Consumer(name)
			if c == nil {
				return server.ConsumerProfile{}, false
			}
			return server.ConsumerProfile{Dept: c.Dept, Roles: c.Roles, SelfService: c.SelfService}, true
		}, callerOf),
		Ready: readiness(fed, st),
	}
	if tr != nil {
		deps.Trace = tr.Middleware
	}
	if !cfg.Limits.RateLimitsOff {
		deps.RateLimit = newRateLimiter(cfg, limiter, m)
	}
	if cfg.Pprof {
		deps.Pprof = adminOnly(auth.Middleware(verifier, log), pprofHandler())
	}
	if cfg.Demo {
		// Loopback names, and the address the demo was told to listen on if it names one.
		deps.Hosts = append([]string{}, server.LoopbackHosts...)
		if h, _, err := net.SplitHostPort(cfg.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			deps.Hosts = append(deps.Hosts, strings.ToLower(strings.Trim(h, "[]")))
		}
		consumers := make([]playground.Consumer, len(cfg.Consumers))
		for i, c := range cfg.Consumers {
			consumers[i] = playground.Consumer{Name: c.Name, Description: c.Description, Purpose: c.Purpose, SelfService: c.SelfService}
		}
		deps.Playground = playground.Handler(playground.Options{Demo: true, Consumers: consumers, Endpoint: "/graphql"})
		deps.DemoTokens = playground.DemoTokens(demoMinter(cfg))
	} else {
		deps.Playground = playground.Handler(playground.Options{Endpoint: "/graphql"})
	}
	return &gatewayParts{handler: server.NewServer(deps), fed: fed, store: st, sharing: svc, recorder: recorder, catalog: catalog, tracing: tr}, nil
}

// openSource builds a department's adapter by its protocol: departments are bindings in
// configuration, protocols are packages.
func openSource(ctx context.Context, d config.Department, client *http.Client, log *slog.Logger) (adapters.Source, io.Closer, error) {
	switch d.Protocol {
	case "soap":
		s, err := soap.New(d, client)
		return s, nil, err
	case "rest":
		s, err := rest.New(d, client)
		return s, nil, err
	case "sql":
		s, err := sqldb.Open(d)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	case "csv":
		s, err := csvdrop.Open(ctx, d, log.With("department", d.ID))
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	return nil, nil, fmt.Errorf("protocol %q has no adapter (soap, rest, sql, csv)", d.Protocol)
}

// loadCatalog parses the catalogue files and checks them against the schema's governed
// fields: the server refuses to start if a governed field has no entry, an entry names
// no field, or two fields share a code.
func loadCatalog(cfg *config.Config) (*policy.Catalog, error) {
	var problems []string
	var parsed []gateway.CatalogEntry
	for _, name := range cfg.Catalog {
		es, err := policy.ParseCatalog(cfg.CatalogData[name], name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		parsed = append(parsed, es...)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("catalogue:\n  %s", strings.Join(problems, "\n  "))
	}
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	cat, err := policy.NewCatalog(parsed, enforce.Governed(schema))
	if err != nil {
		return nil, fmt.Errorf("catalogue does not match the schema: %w", err)
	}
	return cat, nil
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	switch cfg.Store.Driver {
	case "postgres":
		s, err := postgres.Open(ctx, cfg.Store.DSN, log)
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
		}
		return s, nil
	default:
		if err := os.MkdirAll(filepath.Dir(cfg.Store.DSN), 0o700); err != nil {
			return nil, fmt.Errorf("store directory: %w", err)
		}
		s, err := sqlite.Open(ctx, cfg.Store.DSN, log)
		if err != nil {
			return nil, fmt.Errorf("opening the SQLite store: %w", err)
		}
		return s, nil
	}
}

// newVerifier verifies tokens with the configured keys, or with the demo key. Close it
// to stop refreshing a JWKS URL's keys.
func newVerifier(cfg *config.Config, log *slog.Logger) (*auth.Verifier, error) {
	known := func(name string) bool { return cfg.Consumer(name) != nil }
	ac := auth.Config{Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, KeyFiles: cfg.Auth.KeyFiles, JWKSFile: cfg.Auth.JWKSFile, Leeway: cfg.Auth.Leeway,
		JWKSURL: cfg.Auth.JWKSURL, JWKSRefresh: cfg.Auth.JWKSRefresh, Log: log.With("component", "auth")}
	if cfg.Demo {
		if _, err := auth.LoadOrCreateDemoKey(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("demo signing key: %w", err)
		}
		ac.Issuer, ac.Audience = auth.DemoIssuer, auth.DemoAudience
		ac.KeyFiles = []string{auth.DemoPublicKeyFile(cfg.DataDir)}
	} else if cfg.Path != "" {
		base := filepath.Dir(cfg.Path)
		for i, k := range ac.KeyFiles {
			if !filepath.IsAbs(k) {
				ac.KeyFiles[i] = filepath.Join(base, k)
			}
		}
		if ac.JWKSFile != "" && !filepath.IsAbs(ac.JWKSFile) {
			ac.JWKSFile = filepath.Join(base, ac.JWKSFile)
		}
	}
	v, err := auth.NewVerifier(ac, known)
	if err != nil {
		return nil, fmt.Errorf("token verification: %w", err)
	}
	return v, nil
}

// closeStack closes what was opened, last first.
type closeStack struct {
	items []closeItem
}

type closeItem struct {
	name string
	fn   func(context.Context) error
}

func (c *closeStack) push(name string, fn func(context.Context) error) {
	c.items = append(c.items, closeItem{name, fn})
}

func (c *closeStack) closeAll(ctx context.Context, log *slog.Logger) {
	for i := len(c.items) - 1; i >= 0; i-- {
		if err := c.items[i].fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("closing "+c.items[i].name, "err", err)
		}
	}
	c.items = nil
}

// demoMinter mints playground tokens with the demo key: demo mode only.
func demoMinter(cfg *config.Config) playground.Minter {
	return func(consumer, citizenID string) (string, error) {
		c := cfg.Consumer(consumer)
		if c == nil {
			return "", fmt.Errorf("unknown consumer %q", consumer)
		}
		claims := auth.Claims{Consumer: c.Name, Purpose: c.Purpose, Dept: c.Dept, Roles: c.Roles, Subject: "playground-" + c.Name, TTL: time.Hour}
		if c.SelfService {
			if err := idcode.ValidateIDNumber(citizenID); err != nil {
				return "", fmt.Errorf("%s tokens carry the citizen's ID number: %w", c.Name, err)
			}
			claims.CitizenID = citizenID
			claims.Subject = "citizen-" + citizenID[len(citizenID)-4:]
		}
		key, err := auth.LoadOrCreateDemoKey(cfg.DataDir)
		if err != nil {
			return "", err
		}
		kid, err := auth.KeyID(key.Public())
		if err != nil {
			return "", err
		}
		return auth.Mint(key, kid, claims, time.Now())
	}
}

// pprofHandler serves the runtime profiles.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// adminOnly lets through callers with a verified token of the CIO office or a
// department console; profiles reveal internals and must not be public.
func adminOnly(authn func(http.Handler) http.Handler, next http.Handler) http.Handler {
	return authn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := auth.CallerFrom(r.Context())
		if c == nil || !(c.HasRole(gateway.RoleCIO) || c.Dept != "" && c.HasRole(gateway.RoleAuditor)) {
			http.Error(w, "profiles are for the CIO office and department administrators", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	}))
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
}

func registerAuditMetrics(m *metrics.Metrics, r *audit.Recorder) {
	m.CounterFunc("gateway_audit_events_total", "Audit events durably committed.", nil, func() float64 { return float64(r.Stats().Events) })
	m.CounterFunc("gateway_audit_commits_total", "Audit group commits.", nil, func() float64 { return float64(r.Stats().Commits) })
	m.CounterFunc("gateway_audit_commit_failures_total", "Audit group commits that failed.", nil, func() float64 { return float64(r.Stats().Failures) })
}

// timedRecorder measures how long a response waits for its audit events.
type timedRecorder struct {
	r *audit.Recorder
	m *metrics.Metrics
}

func (t timedRecorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	start := time.Now()
	err := t.r.Record(ctx, events)
	t.m.AuditCommit(time.Since(start))
	return err
}

// readiness reports the store and every department's breaker: ready when the store
// answers; departments that are down degrade only their own fields, so they are
// reported but do not make the gateway unready.
func readiness(fed *federation.Federation, st store.Store) func(ctx context.Context) server.Health {
	return func(ctx context.Context) server.Health {
		h := server.Health{OK: true, Components: map[string]string{}}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := st.ListRequests(ctx, store.RequestFilter{Requester: "\x00readiness"}); err != nil {
			h.OK = false
			h.Components["store"] = "down"
		} else {
			h.Components["store"] = "up"
		}
		for _, d := range fed.Departments() {
			h.Components["department:"+d.ID] = d.State().String()
		}
		return h
	}
}
