package sqlstore

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

// The statements of an append. They are prepared once (prepareAppend): parsing them on
// every commit was a sixth of an append's CPU (docs/PERFORMANCE.md).
const (
	qHead    = `SELECT seq, hash FROM audit_heads WHERE chain = ?`
	qNewHead = `INSERT INTO audit_heads (chain, seq, hash) VALUES (?, 0, '') ON CONFLICT (chain) DO NOTHING`
	qAdvance = `UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?`
	qBlock   = `INSERT INTO audit_blocks (chain, first_seq, last_seq, first_at, last_at, events) VALUES (?, ?, ?, ?, ?, ?)`
	qOwner   = `INSERT INTO audit_block_owners (owner, chain, first_seq, events, subjects_listed) VALUES (?, ?, ?, ?, 1)`
)

// subjectRows is how many rows of audit_block_subjects one statement inserts (qSubjects).
// A block's rows go subjectRows at a time, the last statement padded by repeating its last
// row, which ON CONFLICT DO NOTHING drops: one prepared statement serves every block, and
// a block about a few people costs one statement, not one per row, which on PostgreSQL is
// one round trip each (docs/PERFORMANCE.md, "Audit cost and replicas"). More rows per
// statement would make SQLite keep a statement journal in a temporary file.
const subjectRows = 8

// qSubjects inserts subjectRows rows of audit_block_subjects.
func qSubjects() string {
	return `INSERT INTO audit_block_subjects (subject, owner, chain, first_seq) VALUES ` +
		strings.Repeat(`(?, ?, ?, ?), `, subjectRows-1) + `(?, ?, ?, ?) ON CONFLICT DO NOTHING`
}

// appendStmts are the prepared statements of an append; a nil one is run unprepared.
type appendStmts struct{ head, newHead, advance, block, owner, subject *sql.Stmt }

// prepareAppend prepares the statements of an append on the writer. It runs before the
// Store is used: on SQLite the writer's one connection is busy in the transaction that
// needs them later, and a transaction re-prepares a statement on its own connection when
// it must (database/sql's Tx.StmtContext).
func (s *Store) prepareAppend(ctx context.Context) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&s.app.head, qHead + s.d.ForUpdate()}, {&s.app.newHead, qNewHead}, {&s.app.advance, qAdvance},
		{&s.app.block, qBlock}, {&s.app.owner, qOwner}, {&s.app.subject, qSubjects()}} {
		st, err := s.w.PrepareContext(ctx, s.q(p.q))
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.q, err)
		}
		*p.st = st
	}
	return nil
}

// exec runs the prepared st in tx, or q when st is nil; q is written with ? parameters.
func exec(ctx context.Context, tx *sql.Tx, d Dialect, st *sql.Stmt, q string, args ...any) error {
	var err error
	if st != nil {
		_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		_, err = tx.ExecContext(ctx, rewrite(d, q), args...)
	}
	return err
}

// AppendAudit implements store.Store. With a journal (UseJournal) the events are durable
// once the journal holds them and reach the tables moments later; without one they are
// linked into the tables in this call.
func (s *Store) AppendAudit(ctx context.Context, events []gateway.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	events = slices.Clone(events)
	var err error
	if s.jn != nil {
		err = s.appendJournaled(ctx, s.jn, events)
	} else {
		err = s.write(ctx, func(tx *sql.Tx) error { return s.linkChains(ctx, tx, events) })
	}
	if err != nil {
		return s.errf(err, "append audit")
	}
	return nil
}

// linkChains appends events to their chains in tx. Each chain's head row is read with
// the dialect's lock, so appends to one chain — from this or any other process — take
// turns, while appends to different chains (one per replica) do not wait for each
// other. The events of one chain go into one row of audit_blocks (EncodeBlock), and the
// block is listed under each owner it holds events of.
func (s *Store) linkChains(ctx context.Context, tx *sql.Tx, events []gateway.AuditEvent) error {
	for _, chain := range chainsOf(events) {
		if err := s.appendChain(ctx, tx, chain, events); err != nil {
			return fmt.Errorf("chain %q: %w", chain, err)
		}
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
// Seq, PrevHash and Hash in order, writes them as one block and advances the head.
func (s *Store) appendChain(ctx context.Context, tx *sql.Tx, chain string, all []gateway.AuditEvent) error {
	head := tx.StmtContext(ctx, s.app.head)
	var seq int64
	var prev string
	err := head.QueryRowContext(ctx, chain).Scan(&seq, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		// A new chain. Of two processes starting it at once, one inserts and the other
		// waits for that insert to commit, then reads the head it made.
		err = exec(ctx, tx, s.d, s.app.newHead, qNewHead, chain)
		if err == nil {
			err = head.QueryRowContext(ctx, chain).Scan(&seq, &prev)
		}
	}
	if err != nil {
		return fmt.Errorf("lock chain head: %w", err)
	}
	events := all
	if len(chainsOf(all)) > 1 {
		events = nil
		for _, e := range all {
			if e.Chain == chain {
				events = append(events, e)
			}
		}
	}
	for i := range events {
		e := &events[i]
		seq++
		e.Seq, e.PrevHash, e.At = seq, prev, store.Micro(e.At)
		e.Hash = e.ComputeHash()
		prev = e.Hash
	}
	if err := insertBlock(ctx, tx, s.d, &s.app, events); err != nil {
		return err
	}
	if err := exec(ctx, tx, s.d, s.app.advance, qAdvance, seq, prev, chain); err != nil {
		return fmt.Errorf("advance chain head: %w", err)
	}
	return nil
}

// insertBlock writes consecutive linked events of one chain as one block, listed under
// each owner it holds events of and under each (subject, owner) pair of its events
// (audit_block_subjects, migration 6), with st's statements (unprepared where st holds
// none). One row per pair, not per event: an answer's events are about one person.
func insertBlock(ctx context.Context, tx *sql.Tx, d Dialect, st *appendStmts, events []gateway.AuditEvent) error {
	l, err := writeBlock(ctx, tx, d, st.block, events)
	if err != nil {
		return err
	}
	first, last := events[0], events[len(events)-1]
	for _, o := range l.owners {
		if err := exec(ctx, tx, d, st.owner, qOwner, o, first.Chain, first.Seq, l.count[o]); err != nil {
			return fmt.Errorf("list the block of events %d to %d under %s: %w", first.Seq, last.Seq, o, err)
		}
	}
	insert := func(args []any) error { return exec(ctx, tx, d, st.subject, qSubjects(), args...) }
	if err := insertSubjects(first.Chain, first.Seq, l.subjects, insert); err != nil {
		return fmt.Errorf("list the block of events %d to %d by subject: %w", first.Seq, last.Seq, err)
	}
	return nil
}

// insertSubjects lists the block (chain, first) under each of pairs, subjectRows at a
// time: insert runs qSubjects with the arguments.
func insertSubjects(chain string, first int64, pairs []ownerSubject, insert func(args []any) error) error {
	args := make([]any, 0, 4*subjectRows)
	for len(pairs) > 0 {
		n := min(len(pairs), subjectRows)
		args = args[:0]
		for i := range subjectRows {
			k := pairs[min(i, n-1)]
			args = append(args, k.subject, k.owner, chain, first)
		}
		if err := insert(args); err != nil {
			return err
		}
		pairs = pairs[n:]
	}
	return nil
}

// writeBlock writes the row of audit_blocks holding events, with st (or unprepared when
// st is nil), and returns what the block is to be listed under.
func writeBlock(ctx context.Context, tx *sql.Tx, d Dialect, st *sql.Stmt, events []gateway.AuditEvent) (blockListing, error) {
	b, err := EncodeBlock(nil, events)
	if err != nil {
		return blockListing{}, err
	}
	l := listBlock(events)
	first, last := events[0], events[len(events)-1]
	if err := exec(ctx, tx, d, st, qBlock, first.Chain, first.Seq, last.Seq, d.Time(l.minAt), d.Time(l.maxAt), b); err != nil {
		return blockListing{}, fmt.Errorf("insert events %d to %d: %w", first.Seq, last.Seq, err)
	}
	return l, nil
}

// blockListing is what a block is listed under: the span of its events' times, its
// owners in order of first appearance with the number of events of each, and the
// distinct (owner, subject) pairs of its events, also in order of first appearance.
type blockListing struct {
	minAt, maxAt time.Time
	owners       []string
	count        map[string]int
	subjects     []ownerSubject
}

type ownerSubject struct{ owner, subject string }

// listBlock finds what a block of events (at least one) is listed under.
func listBlock(events []gateway.AuditEvent) blockListing {
	l := blockListing{minAt: events[0].At, maxAt: events[0].At, count: map[string]int{}}
	seen := map[ownerSubject]bool{}
	for _, e := range events {
		if e.At.Before(l.minAt) {
			l.minAt = e.At
		}
		if e.At.After(l.maxAt) {
			l.maxAt = e.At
		}
		if l.count[e.Owner] == 0 {
			l.owners = append(l.owners, e.Owner)
		}
		l.count[e.Owner]++
		// An empty subject is never asked for: a filter without one selects every subject.
		if k := (ownerSubject{e.Owner, e.Subject}); e.Subject != "" && !seen[k] {
			seen[k] = true
			l.subjects = append(l.subjects, k)
		}
	}
	return l
}

// ownerBlocks calls fn for each event of the blocks holding events of f's owner, in
// (Chain, Seq) order, that f selects; withCursor applies its paging cursor. fn returns
// false to stop. The SQL narrows the blocks (blocksQuery); the events are filtered here.
func (s *Store) ownerBlocks(ctx context.Context, f store.AuditFilter, withCursor bool, fn func(gateway.AuditEvent) bool) error {
	q, args := s.blocksQuery(f, withCursor)
	keep := func(code, owner, subject []byte) bool {
		return string(owner) == f.Owner && (f.Subject == "" || string(subject) == f.Subject) && (f.Code == "" || string(code) == f.Code)
	}
	errEnough := errors.New("enough")
	err := s.queryBlocks(ctx, q, args, keep, func(e gateway.AuditEvent) error {
		if !selects(f, withCursor, e) {
			return nil
		}
		if !fn(e) {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// blocksQuery selects (chain, first_seq, events) of the blocks that may hold events f
// selects, in (chain, first_seq) order, narrowed by owner, cursor and time. With a
// subject, the blocks are those listed under the subject and owner
// (audit_block_subjects), so a person's events cost the blocks that hold them, not the
// owner's whole trail; and the owner's blocks whose subjects are not listed (appended by
// a gateway that predates migration 6 while replicas were upgraded one by one), which
// must be read whole.
func (s *Store) blocksQuery(f store.AuditFilter, withCursor bool) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return s.d.Placeholder(len(args))
	}
	var q string
	var where []string
	if f.Subject == "" {
		q = `SELECT b.chain, b.first_seq, b.events FROM audit_block_owners o
		JOIN audit_blocks b ON b.chain = o.chain AND b.first_seq = o.first_seq`
		where = append(where, `o.owner = `+arg(f.Owner))
	} else {
		q = `SELECT b.chain, b.first_seq, b.events FROM (
			SELECT chain, first_seq FROM audit_block_subjects WHERE subject = ` + arg(f.Subject) + ` AND owner = ` + arg(f.Owner) + `
			UNION
			SELECT chain, first_seq FROM audit_block_owners WHERE owner = ` + arg(f.Owner) + ` AND subjects_listed IS NULL
		) o JOIN audit_blocks b ON b.chain = o.chain AND b.first_seq = o.first_seq`
	}
	if withCursor {
		where = append(where, `(o.chain > `+arg(f.AfterChain)+` OR (o.chain = `+arg(f.AfterChain)+` AND b.last_seq > `+arg(f.AfterSeq)+`))`)
	}
	if !f.From.IsZero() {
		where = append(where, `b.last_at >= `+arg(s.d.Time(store.Micro(f.From))))
	}
	if !f.To.IsZero() {
		where = append(where, `b.first_at < `+arg(s.d.Time(store.Micro(f.To))))
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return q + ` ORDER BY o.chain, o.first_seq`, args
}

// selects reports whether f selects e.
func selects(f store.AuditFilter, withCursor bool, e gateway.AuditEvent) bool {
	return e.Owner == f.Owner && (f.Code == "" || e.Code == f.Code) && (f.Subject == "" || e.Subject == f.Subject) &&
		(f.From.IsZero() || !e.At.Before(store.Micro(f.From))) && (f.To.IsZero() || e.At.Before(store.Micro(f.To))) &&
		(!withCursor || e.Chain > f.AfterChain || (e.Chain == f.AfterChain && e.Seq > f.AfterSeq))
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]gateway.AuditEvent, error) {
	if f.Owner == "" {
		return nil, s.errf(store.ErrNoOwner, "list audit")
	}
	if err := s.caughtUp(ctx); err != nil {
		return nil, s.errf(err, "list audit")
	}
	var out []gateway.AuditEvent
	err := s.ownerBlocks(ctx, f, true, func(e gateway.AuditEvent) bool {
		out = append(out, e)
		return f.Limit <= 0 || len(out) < f.Limit
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
	if err := s.caughtUp(ctx); err != nil {
		return 0, s.errf(err, "count audit")
	}
	if f.Code == "" && f.Subject == "" && f.From.IsZero() && f.To.IsZero() {
		// All of an owner's events: the counts kept per block, without decoding.
		var n int
		err := s.r.QueryRowContext(ctx, s.q(`SELECT coalesce(sum(events), 0) FROM audit_block_owners WHERE owner = ?`), f.Owner).Scan(&n)
		if err != nil {
			return 0, s.errf(err, "count audit")
		}
		return n, nil
	}
	n := 0
	err := s.ownerBlocks(ctx, f, false, func(gateway.AuditEvent) bool {
		n++
		return true
	})
	if err != nil {
		return 0, s.errf(err, "count audit")
	}
	return n, nil
}

// ScanAudit implements store.Store.
func (s *Store) ScanAudit(ctx context.Context, fn func(gateway.AuditEvent) error) error {
	if err := s.caughtUp(ctx); err != nil {
		return s.errf(err, "scan audit")
	}
	if err := s.queryBlocks(ctx, `SELECT chain, first_seq, events FROM audit_blocks ORDER BY chain, first_seq`, nil, nil, fn); err != nil {
		return s.errf(err, "scan audit")
	}
	return nil
}

// AuditHead returns the Seq and Hash of chain's last event (0 and "" for a chain with
// none), from the head row appends advance; the audit checkpoints sign it (audit.Head).
func (s *Store) AuditHead(ctx context.Context, chain string) (int64, string, error) {
	if err := s.caughtUp(ctx); err != nil {
		return 0, "", s.errf(err, "audit head of chain %q", chain)
	}
	var seq int64
	var hash string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT seq, hash FROM audit_heads WHERE chain = ?`), chain).Scan(&seq, &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", s.errf(err, "audit head of chain %q", chain)
	}
	return seq, hash, nil
}

// AuditChains implements store.Store.
func (s *Store) AuditChains(ctx context.Context) ([]string, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, s.errf(err, "audit chains")
	}
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

// queryBlocks runs q, which selects (chain, first_seq, events) of blocks, and calls fn
// for each of their events that keep wants (nil: all), in order.
func (s *Store) queryBlocks(ctx context.Context, q string, args []any, keep keepFunc, fn func(gateway.AuditEvent) error) error {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var chain string
		var first int64
		var b []byte
		if err := rows.Scan(&chain, &first, &b); err != nil {
			return err
		}
		if err := decodeBlock(chain, first, b, keep, fn); err != nil {
			return err
		}
	}
	return rows.Err()
}
