package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/federation"
	"pudong.gov.cn/gateway/metrics"
	"pudong.gov.cn/gateway/server"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/postgres"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/sqlstore"
)

// openStore opens the gateway's own database and the audit recorder that batches
// commits into it (docs/architecture.md, Where the audit trail is written).
func (g *Gateway) openStore(ctx context.Context) error {
	opened, err := OpenStore(ctx, g.cfg, g.log)
	if err != nil {
		return err
	}
	g.onClose("store", func(context.Context) error { return opened.Close() })
	chain, err := ReplicaChain(g.cfg)
	if err != nil {
		return err
	}
	// The checkpointer reads the chain head in the background, from the store itself;
	// the calls a request makes are bounded by store.timeout.
	if err := g.checkpoints(opened, chain); err != nil {
		return err
	}
	st := store.WithTimeout(opened, g.cfg.Store.Timeout)
	g.Store = st
	opts := audit.Options{CommitTimeout: g.cfg.Audit.CommitTimeout, Chain: chain}
	if s, ok := opened.(*sqlstore.Store); ok && s.JournalStats().On {
		// An append waits only for a flush of the journal, which groups concurrent
		// appends itself: each request appends its own events (docs/audit.md, "The
		// journal").
		opts.Direct = true
		registerJournalMetrics(g.metrics, s)
	}
	g.Recorder = audit.NewRecorder(st, opts, g.log)
	g.onClose("audit", g.Recorder.Close)
	registerAuditMetrics(g.metrics, g.Recorder)
	return nil
}

// registerJournalMetrics reports how far the audit journal is ahead of the tables
// (docs/audit.md, "The journal").
func registerJournalMetrics(m *metrics.Metrics, s *sqlstore.Store) {
	m.GaugeFunc("gateway_audit_journal_behind_bytes", "Audit journal bytes durable but not yet in the audit tables.", nil,
		func() float64 { return float64(s.JournalStats().Behind) })
	m.CounterFunc("gateway_audit_journal_apply_failures_total", "Failed transactions moving audit journal records into the tables (retried).", nil,
		func() float64 { return float64(s.JournalStats().ApplyFailures) })
}

// ReplicaChain is the audit chain this replica appends to and checkpoints: store.replica,
// or the id kept in the data directory (audit.ReplicaChain), so that replicas sharing a
// database do not queue on one chain head (docs/operators.md, Several replicas).
func ReplicaChain(cfg *config.Config) (string, error) {
	if cfg.Store.Replica != "" {
		return cfg.Store.Replica, nil
	}
	return audit.ReplicaChain(cfg.DataDir)
}

// OpenStore opens the store cfg names: PostgreSQL for several replicas, SQLite (its
// directory created) for one.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(cfg.Store.OpenTimeout, config.DefaultStoreOpenTimeout))
	defer cancel()
	s, err := openStoreWithin(ctx, cfg, log)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return nil, fmt.Errorf("the store did not open within store.openTimeout (%s): %w", cmp.Or(cfg.Store.OpenTimeout, config.DefaultStoreOpenTimeout), err)
	}
	return s, err
}

// openStoreWithin is OpenStore within its bound.
func openStoreWithin(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.Store.Driver == "postgres" {
		s, err := postgres.Open(ctx, cfg.Store.DSN, log)
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
		}
		if cfg.Store.AuditJournal != "" {
			if err := s.UseJournal(ctx, cfg.Store.AuditJournal); err != nil {
				s.Close()
				return nil, fmt.Errorf("store.auditJournal: %w", err)
			}
		}
		return s, nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Store.DSN), 0o700); err != nil {
		return nil, fmt.Errorf("store directory: %w", err)
	}
	s, err := sqlite.Open(ctx, cfg.Store.DSN, log)
	if err != nil {
		return nil, fmt.Errorf("opening the SQLite store: %w", err)
	}
	return s, nil
}

func registerAuditMetrics(m *metrics.Metrics, r *audit.Recorder) {
	m.CounterFunc("gateway_audit_events_total", "Audit events durably committed.", nil, func() float64 { return float64(r.Stats().Events) })
	m.CounterFunc("gateway_audit_commits_total", "Audit group commits.", nil, func() float64 { return float64(r.Stats().Commits) })
	m.CounterFunc("gateway_audit_commit_failures_total", "Audit group commits that failed.", nil, func() float64 { return float64(r.Stats().Failures) })
}

// timedRecorder bounds and measures how long a response waits for its audit events. The
// bound is audit.commitTimeout: past it the enforcer withholds the answer with
// AUDIT_UNAVAILABLE, so a stalled store costs a request that long and no longer.
type timedRecorder struct {
	r       *audit.Recorder
	m       *metrics.Metrics
	timeout time.Duration
}

func (t timedRecorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	start := time.Now()
	if t.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
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
		if err := st.Ping(ctx); err != nil {
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
