package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AuditHead implements audit.Head: the Seq and Hash of the chain's last event. The
// table holds one chain until events carry their chain, so chain is not a condition yet.
func (s *Store) AuditHead(ctx context.Context, chain string) (int64, string, error) {
	var seq int64
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("sqlite store: audit head: %w", err)
	}
	return seq, hash, nil
}
