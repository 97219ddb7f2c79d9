package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/enforce"
	"pudong.gov.cn/gateway/internal/keyfile"
	"pudong.gov.cn/gateway/notice"
	"pudong.gov.cn/gateway/quality"
	"pudong.gov.cn/gateway/seal"
)

// loops opens the district's loops beside the sharing policy: data-quality objections
// and cross-source findings, and watch lists with their notices (docs/notices.md).
// audited is the enforcer's recorder, through which every notice value is audited.
func (g *Gateway) loops(ctx context.Context, audited enforce.Recorder) error {
	if err := g.openQuality(ctx); err != nil {
		return err
	}
	return g.openNotices(ctx, audited)
}

// seal loads the seal key (docs/sealed-answers.md); it signs sealed answers and notices.
func (g *Gateway) seal() error {
	s, err := NewSealer(g.cfg, g.Recorder, g.log)
	if err != nil {
		return err
	}
	g.sealer = s
	return nil
}

// NewSealer loads the seal key: the demo's own in its data directory, or seal.keyFile.
// Without a key the gateway serves, and refuses seals with SEAL_UNAVAILABLE.
func NewSealer(cfg *config.Config, recorder *audit.Recorder, log *slog.Logger) (*seal.Sealer, error) {
	o := seal.Options{Position: recorder.PositionOf, Log: log}
	var err error
	switch {
	case cfg.Demo:
		o.Key, err = keyfile.ReadOrCreatePair(filepath.Join(cfg.DataDir, seal.KeyFile), filepath.Join(cfg.DataDir, seal.PublicKeyFile))
	case cfg.Seal.KeyFile != "":
		o.Key, err = keyfile.Read(cfg.Seal.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return seal.New(o), nil
}

// ownDSN is where the gateway's own tables beside the store live: the same PostgreSQL
// database, or a SQLite file of their own (name) next to the store's.
func (g *Gateway) ownDSN(name string) string {
	if g.cfg.Store.Driver == "postgres" {
		return g.cfg.Store.DSN
	}
	return filepath.Join(filepath.Dir(g.cfg.Store.DSN), name)
}

// openQuality opens the objections and findings; findings are written off the request
// path, and counted as recorded or dropped.
func (g *Gateway) openQuality(ctx context.Context) error {
	db, err := quality.Open(ctx, g.cfg.Store.Driver, g.ownDSN("quality.db"))
	if err != nil {
		return err
	}
	g.onClose("data issues", func(context.Context) error { return db.Close() })
	// A request's calls into the table are bounded like the store's (docs/operators.md, store.timeout).
	q := quality.New(quality.Options{DB: db, Catalog: g.Catalog, Grants: g.Sharing.Grants, DeadlineDays: g.cfg.Sharing.DeadlineWorkingDays,
		Timeout: g.cfg.Store.Timeout, Log: g.log})
	g.onClose("findings writer", q.Close)
	g.Quality = q
	g.metrics.CounterFunc("gateway_findings_recorded_total", "Cross-source findings stored (once per subject and item).", nil,
		func() float64 { return float64(q.FindingStats().Recorded) })
	g.metrics.CounterFunc("gateway_findings_dropped_total", "Findings dropped because their queue was full (noticed again on a later read).", nil,
		func() float64 { return float64(q.FindingStats().Dropped) })
	return nil
}

// openNotices opens the watch lists and notice queue and starts change detection and
// delivery. Watched subjects are re-read once per the shortest update cycle of the
// departments that serve credit records, enterprises and insurance.
func (g *Gateway) openNotices(ctx context.Context, audited enforce.Recorder) error {
	db, err := notice.Open(ctx, g.cfg.Store.Driver, g.ownDSN("notices.db"))
	if err != nil {
		return err
	}
	g.onClose("notices", func(context.Context) error { return db.Close() })
	var cycle time.Duration
	for _, r := range []config.Ref{g.cfg.Sources.CreditBySubject, g.cfg.Sources.Enterprise, g.cfg.Sources.InsuranceByCitizen} {
		if ttl := departmentTTL(g.Catalog, r.Department); ttl > 0 && (cycle == 0 || ttl < cycle) {
			cycle = ttl
		}
	}
	n := notice.New(notice.Options{DB: db, Fed: g.Fed, Catalog: g.Catalog, Grants: g.Sharing.Grants, Consumer: g.cfg.Consumer,
		Recorder: audited, Signer: g.sealer, Cycle: cycle, Timeout: g.cfg.Store.Timeout, Log: g.log, Client: &http.Client{Timeout: 15 * time.Second}})
	g.Notices = n
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); n.Run(runCtx, 30*time.Second) }()
	g.onClose("notice delivery", func(ctx context.Context) error {
		stop()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return nil
}
