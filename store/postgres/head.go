package postgres

import (
	"context"
	"fmt"
)

// AuditHead implements audit.Head: the Seq and Hash of the chain's last event, from the
// head row appends advance. The table holds one chain until events carry their chain,
// so chain is not a condition yet.
func (s *Store) AuditHead(ctx context.Context, chain string) (int64, string, error) {
	var seq int64
	var hash string
	if err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("postgres store: audit head: %w", err)
	}
	return seq, hash, nil
}
