// Package app builds a running gateway from a config.Config, in the order a request
// meets the parts (docs/architecture.md, One request, one way): the departments behind
// their caches and protections, the gateway's store and audit trail, the sharing policy,
// and the HTTP surface. cmd/gateway parses flags and runs commands; it calls New and
// serves Handler. Tests build the same gateway the same way.
package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/metrics"
	"pudong.gov.cn/gateway/notice"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/quality"
	"pudong.gov.cn/gateway/ratelimit"
	"pudong.gov.cn/gateway/resolvers"
	"pudong.gov.cn/gateway/seal"
	"pudong.gov.cn/gateway/sharing"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/tracing"
)

// Options are the switches of one run that are not configuration: they come from
// command-line flags, never from the file.
type Options struct {
	// NoAudit turns audit recording off (--bench-no-audit): demo-mode throughput
	// comparisons only.
	NoAudit bool
	// Pprof serves /debug/pprof/ to administrators (--pprof).
	Pprof bool
}

// Gateway is a built gateway: the HTTP handler to serve, and the parts commands and
// tests reach into.
type Gateway struct {
	Handler http.Handler
	// Metrics serves the Prometheus exposition on a listener of its own when metricsAddr
	// is set; nil when /metrics is part of Handler.
	Metrics      http.Handler
	Fed          *federation.Federation
	Store        store.Store
	Sharing      *sharing.Service
	Recorder     *audit.Recorder
	checkpointer *audit.Checkpointer
	Catalog      *policy.Catalog
	Tracing      *tracing.Tracing // nil: tracing off
	// Resolver is the GraphQL resolvers' root; Quality and Notices the district's loops
	// (data-quality objections and findings; watch lists and notices).
	Resolver *resolvers.Resolver
	Quality  *quality.Service
	Notices  *notice.Service
	sealer   *seal.Sealer

	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	metrics *metrics.Metrics
	limits  ratelimit.Limiter // the rate limits' and the budget of people's buckets
	closers []closer
}

// closer releases one thing New opened.
type closer struct {
	name string
	fn   func(context.Context) error
}

// New builds the gateway cfg describes. When it fails, whatever it had opened is closed
// again; when it succeeds, Close releases it.
func New(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{cfg: cfg, opts: opts, log: log, metrics: metrics.New()}
	if err := g.build(ctx); err != nil {
		g.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return g, nil
}

// build assembles the parts in the order each needs the one before.
func (g *Gateway) build(ctx context.Context) error {
	var err error
	if g.Catalog, err = LoadCatalog(g.cfg); err != nil {
		return err
	}
	if err = g.startTracing(ctx); err != nil {
		return err
	}
	if g.Fed, err = g.departments(ctx); err != nil {
		return err
	}
	if err = g.openStore(ctx); err != nil {
		return err
	}
	if g.limits, err = g.limiter(); err != nil {
		return err
	}
	if err = g.seal(); err != nil {
		return err
	}
	enf, audited, err := g.policy(ctx)
	if err != nil {
		return err
	}
	if err = g.loops(ctx, audited); err != nil {
		return err
	}
	g.Handler, err = g.http(enf)
	return err
}

// onClose registers fn to run at Close.
func (g *Gateway) onClose(name string, fn func(context.Context) error) {
	g.closers = append(g.closers, closer{name, fn})
}

// Close releases what New opened, last first. Failures are logged: there is nothing a
// caller could do about them at shutdown. It returns soon after ctx ends: a part that
// does not close in time (a database that stopped answering) is left behind with a log
// line, and the parts after it still get closeGrace, all together, to close with the
// ended ctx, so that what needs no wait (the journal's file) is still released.
func (g *Gateway) Close(ctx context.Context) {
	var grace <-chan time.Time // starts when ctx ends
	for i := len(g.closers) - 1; i >= 0; i-- {
		c := g.closers[i]
		done := make(chan error, 1)
		go func() { done <- c.fn(ctx) }()
		if grace == nil {
			select {
			case err := <-done:
				g.closed(c.name, err)
				continue
			case <-ctx.Done():
				grace = time.After(closeGrace)
			}
		}
		select {
		case err := <-done:
			g.closed(c.name, err)
		case <-grace:
			g.log.Error("closing "+c.name+": it did not finish in time and is left behind", "err", ctx.Err())
		}
	}
	g.closers = nil
}

// closeGrace is what the parts still to close at Close get, together, once its ctx ended.
const closeGrace = 2 * time.Second

func (g *Gateway) closed(name string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		g.log.Warn("closing "+name, "err", err)
	}
}
