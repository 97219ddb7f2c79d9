package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/store"
)

// checkpoints starts this replica's signed audit checkpoints (docs/audit.md). Closed in
// reverse order of opening: the recorder first, then the shutdown checkpoint covers
// everything it committed, then the store.
func (g *Gateway) checkpoints(st store.Store, chain string) error {
	cp, err := StartCheckpoints(g.cfg, st, chain, g.log)
	if err != nil {
		return err
	}
	g.checkpointer = cp
	g.onClose("audit checkpoints", cp.Close)
	g.metrics.CounterFunc("gateway_audit_checkpoints_total", "Signed audit checkpoints written.", nil, func() float64 { return float64(cp.Written()) })
	g.metrics.CounterFunc("gateway_audit_checkpoint_failures_total", "Audit checkpoints that could not be written.", nil, func() float64 { return float64(cp.Failed()) })
	return nil
}

// StartCheckpoints loads (or generates) the audit signing key, publishes its public key
// beside the checkpoints and starts the checkpointer of chain, this replica's.
func StartCheckpoints(cfg *config.Config, st store.Store, chain string, log *slog.Logger) (*audit.Checkpointer, error) {
	head, ok := st.(audit.Head)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot read the audit chain head", cfg.Store.Driver)
	}
	if _, err := os.Stat(cfg.Audit.SigningKey); errors.Is(err, fs.ErrNotExist) && !cfg.Demo {
		log.Warn("no audit signing key: generating one; keep it away from the audit database and publish its public key",
			"path", cfg.Audit.SigningKey)
	}
	signer, err := audit.LoadSigningKey(cfg.Audit.SigningKey, true)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.Audit.Checkpoints.Dir, cfg.Audit.Checkpoints.Mirror} {
		if dir == "" {
			continue
		}
		if err := audit.PublishKey(dir, signer.Public()); err != nil {
			return nil, err
		}
	}
	cp, err := audit.NewCheckpointer(head, audit.CheckpointOptions{
		Every: cfg.Audit.Checkpoints.Every, Interval: cfg.Audit.Checkpoints.Interval,
		Dir: cfg.Audit.Checkpoints.Dir, Mirror: cfg.Audit.Checkpoints.Mirror, Signer: signer, Log: log, Chain: chain,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch b, err := cp.Check(ctx); {
	case err != nil:
		log.Warn("could not compare the audit chain with its last checkpoint", "err", err)
	case b != nil:
		// Serving goes on (the trail must keep recording), but this needs a person.
		log.Error("the audit chain does not match its last signed checkpoint: run gateway audit verify", "finding", b.String())
	}
	// Sign what came since the last checkpoint (a crash's tail, or a chain from before
	// checkpoints existed) now rather than after the first interval.
	if err := cp.Checkpoint(ctx); err != nil {
		log.Warn("audit checkpoint at start failed; the next one will cover these events", "err", err)
	}
	log.Info("audit checkpoints", "dir", cfg.Audit.Checkpoints.Dir, "key", signer.KeyID())
	return cp, nil
}

// observedRecorder tells the checkpointer how many events became durable.
type observedRecorder struct {
	r  func(ctx context.Context, events []gateway.AuditEvent) error
	cp *audit.Checkpointer
}

func (o observedRecorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	err := o.r(ctx, events)
	if err == nil {
		o.cp.Observe(len(events))
	}
	return err
}
