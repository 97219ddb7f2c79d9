package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// auditColumnNames are audit_events' columns in the order events are written and read.
func auditColumnNames() []string {
	return []string{"seq", "at", "consumer", "end_user", "purpose", "request_id", "code", "owner", "subject",
		"decision", "grant_id", "prev_hash", "hash"}
}

// AppendAudit implements store.Store. Locking the head row makes appends from every
// replica take turns; the events go in with COPY, one round trip whatever their number.
func (s *Store) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	events = slices.Clone(events)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		var prev string
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		rows := make([][]any, len(events))
		for i := range events {
			e := &events[i]
			seq++
			e.Seq, e.PrevHash, e.At = seq, prev, store.Micro(e.At)
			// The hash covers exactly what is stored: these fields have no column yet,
			// and a hash over values that cannot be read back would never verify.
			e.ClientRequestID, e.TraceID, e.Chain = "", "", ""
			e.Hash = e.ComputeHash()
			prev = e.Hash
			rows[i] = []any{e.Seq, e.At, e.Consumer, e.EndUser, e.Purpose, e.RequestID, e.Code, e.Owner, e.Subject,
				string(e.Decision), e.GrantID, e.PrevHash, e.Hash}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumnNames(), pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, prev); err != nil {
			return fmt.Errorf("advance chain head: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres store: append audit: %w", err)
	}
	return nil
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]gateway.AuditEvent, error) {
	if f.Owner == "" {
		return nil, fmt.Errorf("postgres store: list audit: %w", store.ErrNoOwner)
	}
	where, args := auditWhere(f, true)
	q := `SELECT ` + strings.Join(auditColumnNames(), ", ") + ` FROM audit_events WHERE ` + where + ` ORDER BY seq`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	var out []gateway.AuditEvent
	err := s.queryAudit(ctx, q, args, func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list audit: %w", err)
	}
	return out, nil
}

// CountAudit implements store.Store.
func (s *Store) CountAudit(ctx context.Context, f store.AuditFilter) (int, error) {
	if f.Owner == "" {
		return 0, fmt.Errorf("postgres store: count audit: %w", store.ErrNoOwner)
	}
	where, args := auditWhere(f, false)
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres store: count audit: %w", err)
	}
	return n, nil
}

// auditWhere is the condition selecting f's events; withCursor adds the paging cursor.
func auditWhere(f store.AuditFilter, withCursor bool) (string, []any) {
	return store.AuditWhere(f, withCursor, func(n int) string { return fmt.Sprintf("$%d", n) }, func(t time.Time) any { return t })
}

// ScanAudit implements store.Store.
func (s *Store) ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error {
	q := `SELECT ` + strings.Join(auditColumnNames(), ", ") + ` FROM audit_events ORDER BY seq`
	if err := s.queryAudit(ctx, q, nil, fn); err != nil {
		return fmt.Errorf("postgres store: scan audit: %w", err)
	}
	return nil
}

func (s *Store) queryAudit(ctx context.Context, q string, args []any, fn func(gateway.AuditEvent) error) error {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e gateway.AuditEvent
		var decision string
		err := rows.Scan(&e.Seq, &e.At, &e.Consumer, &e.EndUser, &e.Purpose, &e.RequestID, &e.Code, &e.Owner,
			&e.Subject, &decision, &e.GrantID, &e.PrevHash, &e.Hash)
		if err != nil {
			return err
		}
		e.At, e.Decision = e.At.UTC(), gateway.Outcome(decision)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
