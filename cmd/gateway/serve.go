package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/logging"
)

const serveHelp = `
gateway [--addr ADDR] [--metrics-addr ADDR] [--data DIR] [--config FILE]

Serves the gateway. Without --config it starts in demo mode: the four department
simulators in-process, SQLite and a generated signing key under --data.
`

// serveFlags are the flags of serving, beyond the common ones.
type serveFlags struct {
	commonFlags
	metricsAddr string
	size        dataset.Size
	noCache     bool
	noAudit     bool
	noRateLimit bool
	pprof       bool
}

func parseServeFlags(args []string, getenv func(string) string, stdout io.Writer) (*serveFlags, error) {
	fs := newFlagSet("gateway", usage+serveHelp, stdout)
	f := &serveFlags{size: dataset.DefaultSize}
	f.register(fs, getenv, true)
	fs.StringVar(&f.metricsAddr, "metrics-addr", envOr(getenv, "GATEWAY_METRICS_ADDR", ""), "serve /metrics here, on a listener of its own, and not on --addr (default: the configuration's metricsAddr; without one, on --addr)")
	fs.IntVar(&f.size.Citizens, "sim-citizens", f.size.Citizens, "demo mode: bulk citizens the simulators generate besides the fixtures")
	fs.IntVar(&f.size.Enterprises, "sim-enterprises", f.size.Enterprises, "demo mode: bulk enterprises")
	fs.IntVar(&f.size.CreditRecords, "sim-credit-records", f.size.CreditRecords, "demo mode: bulk credit records")
	fs.BoolVar(&f.noCache, "no-cache", false, "demo mode: disable the record cache (cold-path measurements)")
	fs.BoolVar(&f.noAudit, "bench-no-audit", false, "demo mode only: do not record audit events (throughput comparison; never in production)")
	fs.BoolVar(&f.noRateLimit, "bench-no-rate-limit", false, "demo mode only: turn rate limits off and lift the per-minute budget of people (load tests)")
	fs.BoolVar(&f.pprof, "pprof", false, "serve /debug/pprof/ to the cio-console and department consoles (admin only)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unknown command %q; see gateway --help", fs.Arg(0))
	}
	return f, nil
}

// configure loads the configuration and applies the flags that override it; the
// switches that are not configuration become app.Options. A production file goes through
// every start-up check first (app.LoadChecked), so that all its problems are reported at
// once; its warnings are returned for the log.
func (f *serveFlags) configure() (*config.Config, app.Options, []string, error) {
	cfg, warnings, err := loadServeConfig(f.config, f.data)
	if err != nil {
		return nil, app.Options{}, nil, err
	}
	if f.addr != "" {
		cfg.Addr = f.addr
	}
	if f.metricsAddr != "" {
		cfg.MetricsAddr = f.metricsAddr
	}
	if cfg.MetricsAddr != "" && cfg.MetricsAddr == cfg.Addr && !strings.HasSuffix(cfg.Addr, ":0") { // port 0: two ports the system picks
		return nil, app.Options{}, nil, fmt.Errorf("the metrics address %s is the listen address too: give the metrics a listener of their own", cfg.MetricsAddr)
	}
	if f.noCache {
		cfg.Cache.Disabled = true
	}
	if f.noAudit && !cfg.Demo {
		return nil, app.Options{}, nil, fmt.Errorf("--bench-no-audit is for demo-mode measurements only")
	}
	if f.noRateLimit {
		if !cfg.Demo {
			return nil, app.Options{}, nil, fmt.Errorf("--bench-no-rate-limit is for demo-mode load tests only; set limits.rateLimitsOff in a configuration file")
		}
		cfg.Limits.RateLimitsOff = true
		liftMinuteBudgets(cfg)
	}
	return cfg, app.Options{NoAudit: f.noAudit, Pprof: f.pprof}, warnings, nil
}

// liftMinuteBudgets raises every demo consumer's per-minute budget of people out of a load
// test's reach: a closed loop reads thousands of people a minute, which the budget
// rightly refuses (docs/operators.md, consumers). The people are still counted, so the
// run measures the budget's work; the per-request bound stays as configured.
func liftMinuteBudgets(cfg *config.Config) {
	for i := range cfg.Consumers {
		l := cfg.Consumers[i].Subjects()
		if l.PerMinute > 0 {
			l.PerMinute = math.MaxInt32
			cfg.Consumers[i].SubjectLimit = &l
		}
	}
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f, err := parseServeFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	cfg, opts, warnings, err := f.configure()
	if err != nil {
		return err
	}
	cfg.Tracing = resolveTracing(cfg.Tracing, getenv)
	log := newLogger(cfg.Log, stdout)
	for _, w := range warnings {
		log.Warn(w)
	}
	if cfg.Demo {
		sims, err := startSimulators(ctx, cfg, f.size, log)
		if err != nil {
			return err
		}
		defer within(ctx, 15*time.Second, func(c context.Context) { sims.Close(c) })
	}
	gw, err := app.New(ctx, cfg, opts, log)
	if err != nil {
		return err
	}
	defer within(ctx, 15*time.Second, gw.Close)
	return serve(ctx, cfg, gw.Handler, gw.Metrics, log, stdout)
}

// within runs shutdown work fn with a deadline of its own, d from now, even when ctx is
// already cancelled (as it is when the process is asked to stop).
func within(ctx context.Context, d time.Duration, fn func(context.Context)) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	fn(c)
}

// startSimulators runs the four department simulators for the demo and binds cfg to them.
func startSimulators(ctx context.Context, cfg *config.Config, size dataset.Size, log *slog.Logger) (*legacysim.Sims, error) {
	sims, err := legacysim.Start(ctx, legacysim.Options{Dir: filepath.Join(cfg.DataDir, "sim"), Size: size, Log: log})
	if err != nil {
		return nil, fmt.Errorf("starting the department simulators: %w", err)
	}
	cfg.Departments = sims.Bindings
	for _, d := range sims.Bindings {
		log.Info("department simulator started", "department", d.ID, "protocol", d.Protocol, "addr", sims.Addrs[d.ID])
	}
	return sims, nil
}

// serve listens on cfg.Addr (and, for metrics, on cfg.MetricsAddr) until ctx ends, then
// drains in-flight requests.
func serve(ctx context.Context, cfg *config.Config, h, metrics http.Handler, log *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	servers := []*http.Server{newHTTPServer(h, log)}
	listeners := []net.Listener{ln}
	metricsURL := ""
	if metrics != nil {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s (metricsAddr): %w", cfg.MetricsAddr, err)
		}
		servers = append(servers, newHTTPServer(metrics, log))
		listeners = append(listeners, mln)
		metricsURL = "http://" + mln.Addr().String() + "/metrics"
	}
	announce(cfg, ln.Addr().String(), metricsURL, log, stdout)
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	select {
	case err := <-errc:
		shutdown(ctx, servers, log)
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	shutdown(ctx, servers, log)
	return nil
}

// newHTTPServer bounds every phase of a connection, so a slow or silent client holds
// nothing for long.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// shutdown drains the servers' in-flight requests, all within one 20-second bound.
func shutdown(ctx context.Context, servers []*http.Server, log *slog.Logger) {
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Warn("in-flight requests did not finish in time", "err", err)
		}
	}
}

// announce logs the listening line scripts wait for (docs/operators.md, Logs) and, in
// the demo, tells the person at the terminal where to go.
func announce(cfg *config.Config, addr, metricsURL string, log *slog.Logger, stdout io.Writer) {
	mode := "production"
	if cfg.Demo {
		mode = "demo"
	}
	url := "http://" + addr
	if metricsURL == "" {
		metricsURL = url + "/metrics"
	}
	log.Info("gateway listening", "mode", mode, "addr", addr, "graphql", url+"/graphql", "playground", url+"/", "metrics", metricsURL)
	if cfg.Demo {
		fmt.Fprintf(stdout, "\n  Playground: %s/\n  GraphQL:    %s/graphql\n  Get a token: go run ./cmd/gateway token --consumer online-hall --data %s\n\n", url, url, cfg.DataDir)
	}
}

// loadConfig reads the production file, or builds the demo configuration.
func loadConfig(path, dataDir string) (*config.Config, error) {
	if path == "" {
		return config.Demo(dataDir)
	}
	return config.Load(path)
}

// loadServeConfig is loadConfig with every start-up check run on a production file.
func loadServeConfig(path, dataDir string) (*config.Config, []string, error) {
	if path == "" {
		cfg, err := config.Demo(dataDir)
		return cfg, nil, err
	}
	return app.LoadChecked(path, false)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	return logging.New(w, c.Format, c.Level)
}
