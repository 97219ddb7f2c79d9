package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/graph"
	"pudong.gov.cn/gateway/policy"
	"pudong.gov.cn/gateway/sharing"
)

// policy starts the sharing loop (grants in force, refreshed from any replica) and the
// enforcer that decides every governed field (docs/architecture.md, The sharing policy).
// It returns the enforcer and the recorder it audits with (nil when audit is off): the
// seal learns through it where a sealed request's events landed in the chain.
func (g *Gateway) policy(ctx context.Context) (*enforce.Enforcer, enforce.Recorder, error) {
	svc, err := sharing.New(ctx, sharing.Options{
		Store: g.Store, Catalog: g.Catalog, Consumers: g.cfg.Consumers, Purposes: g.cfg.Purposes, DeadlineDays: g.cfg.Sharing.DeadlineWorkingDays,
		Purger: g.Fed, Log: g.log,
	})
	if err != nil {
		return nil, nil, err
	}
	g.Sharing = svc
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	go svc.Watch(watchCtx, 30*time.Second)
	g.onClose("grant watcher", func(context.Context) error { stopWatch(); return nil })

	var rec enforce.Recorder = g.sealer.Recorder(observedRecorder{timedRecorder{g.Recorder, g.metrics, g.cfg.Audit.CommitTimeout}.Record, g.checkpointer})
	if g.Tracing != nil {
		rec = g.Tracing.Recorder(rec) // the audit commit's span, and the trace id in each event
	}
	eo := enforce.Options{Catalog: g.Catalog, Grants: svc.Grants, Recorder: rec,
		Observer: g.metrics, Log: g.log, Caller: gateway.CallerFrom, Budget: g.subjectBudget()}
	if g.opts.NoAudit {
		eo.Recorder = nil
		g.log.Warn("audit recording is OFF (--bench-no-audit): for throughput comparisons only")
	}
	return enforce.New(eo), eo.Recorder, nil
}

// LoadCatalog parses the catalogue files and checks them against the schema's governed
// fields: the gateway refuses to start if a governed field has no entry, an entry names
// no field, or two fields share a code.
func LoadCatalog(cfg *config.Config) (*policy.Catalog, error) {
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
	if err := enforce.CheckSchema(schema, cat, federation.Entities()); err != nil {
		return nil, fmt.Errorf("the schema could serve department data ungoverned: %w", err)
	}
	return cat, nil
}
