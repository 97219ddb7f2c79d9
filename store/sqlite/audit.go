package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

const auditColumns = `seq, at, consumer, end_user, purpose, request_id, code, owner, subject, decision,
	grant_id, prev_hash, hash`

// auditRowsPerInsert keeps a statement's parameters (13 per row) well under SQLite's limit.
const auditRowsPerInsert = 200

// AppendAudit implements store.Store. The chain head is read inside the IMMEDIATE
// transaction, which holds the database's write lock from its first statement, so no
// other connection (in this process or another) can append between the read and the
// commit.
func (s *Store) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	events = slices.Clone(events)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var seq int64
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read chain head: %w", err)
		}
		for i := range events {
			e := &events[i]
			seq++
			e.Seq, e.PrevHash, e.At = seq, prev, store.Micro(e.At)
			// The hash covers exactly what is stored: these fields have no column yet,
			// and a hash over values that cannot be read back would never verify.
			e.ClientRequestID, e.TraceID, e.Chain = "", "", ""
			e.Hash = e.ComputeHash()
			prev = e.Hash
		}
		// Many rows per statement: one response can audit hundreds of fields, and a
		// statement per row would make the audit the most expensive part of it.
		for start := 0; start < len(events); start += auditRowsPerInsert {
			chunk := events[start:min(start+auditRowsPerInsert, len(events))]
			args := make([]any, 0, len(chunk)*13)
			for i := range chunk {
				e := &chunk[i]
				args = append(args, e.Seq, micros(e.At), e.Consumer, e.EndUser, e.Purpose, e.RequestID,
					e.Code, e.Owner, e.Subject, string(e.Decision), e.GrantID, e.PrevHash, e.Hash)
			}
			q := `INSERT INTO audit_events (` + auditColumns + `) VALUES ` +
				strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?),`, len(chunk)), ",")
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("insert events %d to %d: %w", chunk[0].Seq, chunk[len(chunk)-1].Seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite store: append audit: %w", err)
	}
	return nil
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]gateway.AuditEvent, error) {
	if f.Owner == "" {
		return nil, fmt.Errorf("sqlite store: list audit: %w", store.ErrNoOwner)
	}
	where, args := auditWhere(f, true)
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE ` + where + ` ORDER BY seq`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []gateway.AuditEvent
	err := s.queryAudit(ctx, q, args, func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list audit: %w", err)
	}
	return out, nil
}

// CountAudit implements store.Store.
func (s *Store) CountAudit(ctx context.Context, f store.AuditFilter) (int, error) {
	if f.Owner == "" {
		return 0, fmt.Errorf("sqlite store: count audit: %w", store.ErrNoOwner)
	}
	where, args := auditWhere(f, false)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite store: count audit: %w", err)
	}
	return n, nil
}

// auditWhere is the condition selecting f's events; withCursor adds the paging cursor.
func auditWhere(f store.AuditFilter, withCursor bool) (string, []any) {
	return store.AuditWhere(f, withCursor, func(int) string { return "?" }, func(t time.Time) any { return micros(t) })
}

// ScanAudit implements store.Store.
func (s *Store) ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error {
	err := s.queryAudit(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY seq`, nil, fn)
	if err != nil {
		return fmt.Errorf("sqlite store: scan audit: %w", err)
	}
	return nil
}

func (s *Store) queryAudit(ctx context.Context, q string, args []any, fn func(gateway.AuditEvent) error) error {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e gateway.AuditEvent
		var at int64
		var decision string
		err := rows.Scan(&e.Seq, &at, &e.Consumer, &e.EndUser, &e.Purpose, &e.RequestID, &e.Code, &e.Owner,
			&e.Subject, &decision, &e.GrantID, &e.PrevHash, &e.Hash)
		if err != nil {
			return err
		}
		e.At, e.Decision = fromMicros(at), gateway.Outcome(decision)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
