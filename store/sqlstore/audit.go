package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store"
)

// auditColumns are audit_events' columns in the order events are written and read.
const auditColumns = `chain, seq, at, consumer, end_user, purpose, request_id, client_request_id, trace_id,
	code, owner, subject, decision, grant_id, prev_hash, hash`

// auditColumnCount is the number of auditColumns.
const auditColumnCount = 16

// insertSizes are the row counts of the prepared multi-row INSERTs an append is cut
// into, largest first. One statement per append would be parsed afresh every time (a
// tenth of an audited response's CPU in the profiles of docs/PERFORMANCE.md); a few fixed
// sizes are prepared once per connection and cover any count in few executions.
var insertSizes = []int{64, 16, 4, 1}

// prepareInserts prepares the INSERT of each size in insertSizes. It runs before the
// Store is used: on SQLite the writer's one connection is then busy in the transaction
// that needs the statement, and a transaction re-prepares a statement on its own
// connection when it must (database/sql's Tx.StmtContext).
func (s *Store) prepareInserts(ctx context.Context) error {
	s.inserts = map[int]*sql.Stmt{}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", auditColumnCount), ", ") + ")"
	for _, n := range insertSizes {
		q := `INSERT INTO audit_events (` + auditColumns + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		st, err := s.w.PrepareContext(ctx, s.q(q))
		if err != nil {
			return fmt.Errorf("prepare audit insert: %w", err)
		}
		s.inserts[n] = st
	}
	return nil
}

// AppendAudit implements store.Store. Each chain's head row is read with the dialect's
// lock, so appends to one chain — from this or any other process — take turns, while
// appends to different chains (one per replica) do not wait for each other.
func (s *Store) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	events = slices.Clone(events)
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, chain := range chainsOf(events) {
			if err := s.appendChain(ctx, tx, chain, events); err != nil {
				return fmt.Errorf("chain %q: %w", chain, err)
			}
		}
		return s.insertEvents(ctx, tx, events)
	})
	if err != nil {
		return s.errf(err, "append audit")
	}
	return nil
}

// chainsOf lists the chains events belong to, in order of first appearance.
func chainsOf(events []gateway.AuditEvent) []string {
	var chains []string
	for _, e := range events {
		if !slices.Contains(chains, e.Chain) {
			chains = append(chains, e.Chain)
		}
	}
	return chains
}

// appendChain links the events of chain into it: it locks the chain's head, assigns
// Seq, PrevHash and Hash in order, and advances the head.
func (s *Store) appendChain(ctx context.Context, tx *sql.Tx, chain string, events []gateway.AuditEvent) error {
	head := s.q(`SELECT seq, hash FROM audit_heads WHERE chain = ?` + s.d.ForUpdate())
	var seq int64
	var prev string
	err := tx.QueryRowContext(ctx, head, chain).Scan(&seq, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		// A new chain. Of two processes starting it at once, one inserts and the other
		// waits for that insert to commit, then reads the head it made.
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO audit_heads (chain, seq, hash) VALUES (?, 0, '')
			ON CONFLICT (chain) DO NOTHING`), chain)
		if err == nil {
			err = tx.QueryRowContext(ctx, head, chain).Scan(&seq, &prev)
		}
	}
	if err != nil {
		return fmt.Errorf("lock chain head: %w", err)
	}
	for i := range events {
		e := &events[i]
		if e.Chain != chain {
			continue
		}
		seq++
		e.Seq, e.PrevHash, e.At = seq, prev, store.Micro(e.At)
		e.Hash = e.ComputeHash()
		prev = e.Hash
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?`), seq, prev, chain); err != nil {
		return fmt.Errorf("advance chain head: %w", err)
	}
	return nil
}

// insertEvents writes linked events with the prepared INSERTs.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []gateway.AuditEvent) error {
	for len(events) > 0 {
		n := insertSizes[len(insertSizes)-1]
		for _, size := range insertSizes {
			if size <= len(events) {
				n = size
				break
			}
		}
		args := make([]any, 0, n*auditColumnCount)
		for i := range events[:n] {
			e := &events[i]
			args = append(args, e.Chain, e.Seq, s.d.Time(e.At), e.Consumer, e.EndUser, e.Purpose, e.RequestID,
				e.ClientRequestID, e.TraceID, e.Code, e.Owner, e.Subject, string(e.Decision), e.GrantID, e.PrevHash, e.Hash)
		}
		if _, err := tx.StmtContext(ctx, s.inserts[n]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert events %d to %d: %w", events[0].Seq, events[n-1].Seq, err)
		}
		events = events[n:]
	}
	return nil
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]gateway.AuditEvent, error) {
	if f.Owner == "" {
		return nil, s.errf(store.ErrNoOwner, "list audit")
	}
	where, args := store.AuditWhere(f, true, s.d.Placeholder, s.d.Time)
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE ` + where + ` ORDER BY seq, chain`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT ` + s.d.Placeholder(len(args))
	}
	var out []gateway.AuditEvent
	err := s.queryAudit(ctx, q, args, func(e gateway.AuditEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, s.errf(err, "list audit")
	}
	return out, nil
}

// CountAudit implements store.Store.
func (s *Store) CountAudit(ctx context.Context, f store.AuditFilter) (int, error) {
	if f.Owner == "" {
		return 0, s.errf(store.ErrNoOwner, "count audit")
	}
	where, args := store.AuditWhere(f, false, s.d.Placeholder, s.d.Time)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE `+where, args...).Scan(&n); err != nil {
		return 0, s.errf(err, "count audit")
	}
	return n, nil
}

// ScanAudit implements store.Store.
func (s *Store) ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error {
	if err := s.queryAudit(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY chain, seq`, nil, fn); err != nil {
		return s.errf(err, "scan audit")
	}
	return nil
}

// AuditChains implements store.Store.
func (s *Store) AuditChains(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT chain FROM audit_heads ORDER BY chain`)
	if err != nil {
		return nil, s.errf(err, "audit chains")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, s.errf(err, "audit chains")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errf(err, "audit chains")
	}
	return out, nil
}

func (s *Store) queryAudit(ctx context.Context, q string, args []any, fn func(gateway.AuditEvent) error) error {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e gateway.AuditEvent
		var at scanTime
		var decision string
		err := rows.Scan(&e.Chain, &e.Seq, &at, &e.Consumer, &e.EndUser, &e.Purpose, &e.RequestID,
			&e.ClientRequestID, &e.TraceID, &e.Code, &e.Owner, &e.Subject, &decision, &e.GrantID, &e.PrevHash, &e.Hash)
		if err != nil {
			return err
		}
		e.At, e.Decision = at.t, gateway.Outcome(decision)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
