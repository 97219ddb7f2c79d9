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
	"time"

	"pudong.gov.cn/gateway/app"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/logging"
)

const serveHelp = `
gateway [--addr ADDR] [--data DIR] [--config FILE]

Serves the gateway. Without --config it starts in demo mode: the four department
simulators in-process, SQLite and a generated signing key under --data.
`

// serveFlags are the flags of serving, beyond the common ones.
type serveFlags struct {
	commonFlags
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
	return serve(ctx, cfg, gw.Handler, log, stdout)
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

// serve listens on cfg.Addr until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg *config.Config, h http.Handler, log *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	announce(cfg, ln.Addr().String(), log, stdout)
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

// announce logs the listening line scripts wait for (docs/operators.md, Logs) and, in
// the demo, tells the person at the terminal where to go.
func announce(cfg *config.Config, addr string, log *slog.Logger, stdout io.Writer) {
	mode := "production"
	if cfg.Demo {
		mode = "demo"
	}
	url := "http://" + addr
	log.Info("gateway listening", "mode", mode, "addr", addr, "graphql", url+"/graphql", "playground", url+"/")
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
