package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/store/journal"
)

// The bounds of the journal in front of the audit tables (docs/audit.md, "The journal").
const (
	// applyBatch caps the events of one transaction that moves journal records into
	// the tables, so that a request or grant write on the same writer waits briefly.
	applyBatch = 5000
	// maxBehind bounds the bytes appended but not yet applied: an append beyond it
	// waits (as long as its context allows) for the tables to catch up, so a database
	// that stops answering cannot grow the journal without bound.
	maxBehind = 64 << 20
	// resetAbove is the file size from which a fully applied journal is emptied.
	resetAbove = 4 << 20
	// applyEvery paces the applier: it moves what has gathered at most this often,
	// unless a reader waits for it, so that the tables take few, wide transactions
	// (docs/PERFORMANCE.md, "Audit cost and replicas").
	applyEvery = 100 * time.Millisecond
	// closeDrain bounds how long Close waits for the tables to catch up; what is left
	// stays in the journal and is applied when the store opens next.
	closeDrain = 10 * time.Second
)

// errJournalClosed is returned by appends after Close.
var errJournalClosed = errors.New("audit journal closed")

// journaled is a Store's audit journal: AppendAudit writes the events to it and returns
// once they are on the disk; the applier moves them into the audit tables in batches, in
// journal order, recording in the same transaction how far it got.
type journaled struct {
	j   *journal.Journal
	log *slog.Logger

	order   sync.Mutex // held across a journal append and its queueing, so both keep one order
	mu      sync.Mutex
	pending []pendingRecord // appended, not yet applied, in journal order
	behind  int64           // bytes of pending
	applied int64           // the journal position the tables hold
	moved   chan struct{}   // closed and replaced whenever applied moves or the applier stops
	closed  bool

	wake  chan struct{} // something was appended
	hurry chan struct{} // a reader waits: apply now
	stop  chan struct{}
	// quit ends with stop (endQuit): an apply in flight then gives way to the drain, so
	// that Close waits for closeDrain and no longer.
	quit     context.Context
	endQuit  context.CancelFunc
	done     chan struct{}
	failures atomic.Uint64
}

// pendingRecord is one appended record: its events and the journal position past it.
type pendingRecord struct {
	events []gateway.AuditEvent
	end    int64
	size   int64
}

// UseJournal puts the audit journal at path in front of the audit tables: it applies
// what a previous run left in it, then makes AppendAudit durable by the journal alone
// (one write and one fdatasync) and starts moving appended events into the tables in the
// background. Every audit read waits until the tables hold what was appended before it.
// Call it once, right after Open.
func (s *Store) UseJournal(ctx context.Context, path string) error {
	j, opened, err := journal.Open(path)
	if err != nil {
		return err
	}
	log := s.log.With("journal", path)
	if opened.Dropped > 0 {
		log.Warn("audit journal: bytes after the last intact record cut off (an append a crash interrupted, which was never acknowledged)",
			"bytes", opened.Dropped, "kept_in", opened.DamagedPath)
	}
	jn := &journaled{j: j, log: log, moved: make(chan struct{}), wake: make(chan struct{}, 1),
		hurry: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	jn.quit, jn.endQuit = context.WithCancel(context.Background())
	if err := s.replay(ctx, jn, opened.Records); err != nil {
		jn.endQuit()
		j.Close()
		return fmt.Errorf("audit journal %s: %w", path, err)
	}
	s.jn = jn
	go s.applyLoop(jn)
	return nil
}

// replay applies the records of a journal that the tables do not hold yet.
func (s *Store) replay(ctx context.Context, jn *journaled, recs []journal.Record) error {
	var mark int64
	err := s.w.QueryRowContext(ctx, s.q(`SELECT applied FROM audit_journal WHERE id = ?`), jn.j.ID()).Scan(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read how far it was applied: %w", err)
	}
	jn.applied = max(mark, jn.j.End()-journalBytes(recs))
	var todo []pendingRecord
	for _, r := range recs {
		if r.End <= mark {
			continue
		}
		events, err := DecodeRecord(r.Payload)
		if err != nil {
			return fmt.Errorf("record ending at %d: %w", r.End, err)
		}
		todo = append(todo, pendingRecord{events: events, end: r.End, size: int64(len(r.Payload))})
	}
	for len(todo) > 0 {
		n := batchOf(todo)
		if err := s.applyRecords(ctx, jn, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	if len(recs) > 0 {
		s.log.Info("audit journal replayed", "records", len(recs), "applied_to", jn.applied)
	}
	return jn.j.Reset(jn.j.End())
}

// journalBytes is the payload bytes of recs.
func journalBytes(recs []journal.Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Payload))
	}
	return n
}

// batchOf is how many of recs one apply transaction takes: whole records, up to
// applyBatch events (at least one record).
func batchOf(recs []pendingRecord) int {
	n, events := 0, 0
	for n < len(recs) && (n == 0 || events+len(recs[n].events) <= applyBatch) {
		events += len(recs[n].events)
		n++
	}
	return n
}

// appendJournaled is AppendAudit with a journal: durable when the record is.
func (s *Store) appendJournaled(ctx context.Context, jn *journaled, events []gateway.AuditEvent) error {
	if err := jn.room(ctx); err != nil {
		return err
	}
	payload, err := EncodeRecord(events)
	if err != nil {
		return err
	}
	// The record is queued in journal order as it is written; it is flushed outside
	// the lock, so that appends arriving meanwhile start their own flush instead of
	// waiting for this one (journal.Sync), and the applier takes it once it is durable.
	jn.order.Lock()
	end, err := jn.j.Write(payload)
	if err == nil {
		jn.mu.Lock()
		jn.pending = append(jn.pending, pendingRecord{events: events, end: end, size: int64(len(payload))})
		jn.behind += int64(len(payload))
		jn.mu.Unlock()
	}
	jn.order.Unlock()
	if err != nil {
		return err
	}
	if err := jn.j.Sync(ctx, end); err != nil {
		return err
	}
	select {
	case jn.wake <- struct{}{}:
	default:
	}
	return nil
}

// room waits until the journal is less than maxBehind ahead of the tables.
func (jn *journaled) room(ctx context.Context) error {
	for {
		jn.mu.Lock()
		closed, behind, moved := jn.closed, jn.behind, jn.moved
		jn.mu.Unlock()
		if closed {
			return errJournalClosed
		}
		if behind < maxBehind {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("audit journal %d bytes ahead of the database: %w", behind, ctx.Err())
		}
	}
}

// caughtUp waits until the tables hold everything appended before the call, so that an
// audit read sees every event whose append has returned.
func (s *Store) caughtUp(ctx context.Context) error {
	jn := s.jn
	if jn == nil {
		return nil
	}
	target := jn.j.End()
	for {
		jn.mu.Lock()
		applied, closed, moved := jn.applied, jn.closed, jn.moved
		jn.mu.Unlock()
		if applied >= target {
			return nil
		}
		if closed {
			return errJournalClosed
		}
		select {
		case jn.hurry <- struct{}{}:
		default:
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("audit journal not yet applied to the database (at %d of %d): %w", applied, target, ctx.Err())
		}
	}
}

// applyLoop moves appended records into the tables until the store closes, then applies
// what is left (drain). A failed transaction is retried after a pause that doubles up to
// five seconds; the events stay in the journal meanwhile.
func (s *Store) applyLoop(jn *journaled) {
	defer close(jn.done)
	const firstPause = 50 * time.Millisecond
	pause := firstPause
	for {
		select {
		case <-jn.wake:
		case <-jn.hurry:
		case <-jn.stop:
			s.drain(jn)
			return
		}
		// Let more gather, unless a reader waits or the store closes.
		select {
		case <-time.After(applyEvery):
		case <-jn.hurry:
		case <-jn.stop:
			s.drain(jn)
			return
		}
		for jn.hasPending() {
			ctx, cancel := context.WithTimeout(jn.quit, time.Minute)
			err := s.applyPending(ctx, jn)
			cancel()
			if err == nil {
				pause = firstPause
				continue
			}
			jn.failures.Add(1)
			jn.log.Error("audit journal: moving events into the database failed; they stay in the journal and are retried",
				"retry_in", pause, "err", err)
			select {
			case <-time.After(pause):
				pause = min(2*pause, 5*time.Second)
			case <-jn.stop:
				s.drain(jn)
				return
			}
		}
		s.resetIfApplied(jn)
	}
}

// drain applies what is pending at close, for up to closeDrain.
func (s *Store) drain(jn *journaled) {
	ctx, cancel := context.WithTimeout(context.Background(), closeDrain)
	defer cancel()
	for jn.hasPending() {
		if err := s.applyPending(ctx, jn); err != nil {
			jn.log.Error("audit journal: applying at close failed", "err", err)
			return
		}
	}
}

// hasPending reports whether durable records wait to be applied.
func (jn *journaled) hasPending() bool {
	jn.mu.Lock()
	defer jn.mu.Unlock()
	return len(jn.durable()) > 0
}

// durable is the leading pending records that are on the disk; jn.mu is held.
func (jn *journaled) durable() []pendingRecord {
	synced := jn.j.Synced()
	n := 0
	for n < len(jn.pending) && jn.pending[n].end <= synced {
		n++
	}
	return jn.pending[:n]
}

// applyPending applies the next batch of pending records that are on the disk: a
// record still being flushed may yet fail, and the tables must never hold more than the
// journal (the position they record would skip records written after a crash).
func (s *Store) applyPending(ctx context.Context, jn *journaled) error {
	jn.mu.Lock()
	recs := jn.pending[:batchOf(jn.durable())]
	jn.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	return s.applyRecords(ctx, jn, recs)
}

// applyRecords links the events of recs, the oldest pending records, into their chains
// and records the journal position past them, in one transaction, then drops them from
// the pending queue.
func (s *Store) applyRecords(ctx context.Context, jn *journaled, recs []pendingRecord) error {
	var size int64
	n := 0
	for _, r := range recs {
		n += len(r.events)
		size += r.size
	}
	all := make([]gateway.AuditEvent, 0, n)
	for _, r := range recs {
		all = append(all, r.events...)
	}
	end := recs[len(recs)-1].end
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.linkChains(ctx, tx, all); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_journal (id, applied) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET applied = excluded.applied`), jn.j.ID(), end)
		return err
	})
	if err != nil {
		return s.errf(err, "apply audit journal up to %d", end)
	}
	jn.mu.Lock()
	if len(jn.pending) >= len(recs) && jn.pending[len(recs)-1].end == end {
		clear(jn.pending[:len(recs)])
		jn.pending = jn.pending[len(recs):]
		jn.behind -= size
	}
	jn.applied = end
	close(jn.moved)
	jn.moved = make(chan struct{})
	jn.mu.Unlock()
	return nil
}

// resetIfApplied empties a journal file that has grown past resetAbove once the tables
// hold all of it. Appends go on meanwhile: the journal keeps the records written during
// the reset, and one written before it that is not applied yet makes it decline
// (journal.ErrNotApplied), so no lock of the appends is held across the disk's writes
// (docs/audit.md, "The journal": a disk that stops answering holds no append past its
// bound).
func (s *Store) resetIfApplied(jn *journaled) {
	if jn.j.Size() < resetAbove {
		return
	}
	jn.mu.Lock()
	applied := jn.applied
	jn.mu.Unlock()
	if err := jn.j.Reset(applied); err != nil && !errors.Is(err, journal.ErrNotApplied) {
		jn.log.Error("audit journal: emptying the applied journal failed; appends are refused until a restart recovers from the file", "err", err)
	}
}

// closeJournal stops appends, applies what is pending (for up to closeDrain; an apply in
// flight gives way to it), empties the journal if the tables hold all of it, and closes
// it. What is not applied stays in the file for the next Open.
func (s *Store) closeJournal() {
	jn := s.jn
	if jn == nil {
		return
	}
	jn.order.Lock()
	jn.mu.Lock()
	jn.closed = true
	jn.mu.Unlock()
	jn.order.Unlock()
	close(jn.stop)
	jn.endQuit()
	// The drain takes closeDrain at most; a write to a disk that stops answering (the
	// file being emptied) takes no deadline, so the wait for the applier has its own.
	timer := time.NewTimer(closeDrain + time.Second)
	defer timer.Stop()
	select {
	case <-jn.done:
	case <-timer.C:
		jn.log.Error("audit journal: the applier did not stop in time at close; what it has not applied stays in the journal for the next start")
	}
	jn.mu.Lock()
	left, applied := len(jn.pending), jn.applied
	close(jn.moved)
	jn.moved = make(chan struct{})
	jn.mu.Unlock()
	if left == 0 {
		if err := jn.j.Reset(applied); err != nil {
			jn.log.Error("audit journal: emptying at close failed; it is replayed at the next start", "err", err)
		}
	} else {
		jn.log.Error("audit journal: events not yet in the database at close; they are applied at the next start", "records", left)
	}
	jn.j.Close()
}

// EncodeRecord writes events as one journal record (docs/audit.md, "The journal"): for each run of events of one chain,
// the chain's name (a uvarint length and the bytes) and a block of them (EncodeBlock,
// a uvarint length and the bytes) without their hashes, which the tables assign.
func EncodeRecord(events []gateway.AuditEvent) ([]byte, error) {
	out := make([]byte, 0, 200*len(events))
	var block []byte
	for i := 0; i < len(events); {
		j := i
		for j < len(events) && events[j].Chain == events[i].Chain {
			j++
		}
		var err error
		if block, err = encodeEvents(block[:0], events[i:j], false); err != nil {
			return nil, err
		}
		out = binary.AppendUvarint(out, uint64(len(events[i].Chain)))
		out = append(out, events[i].Chain...)
		out = binary.AppendUvarint(out, uint64(len(block)))
		out = append(out, block...)
		i = j
	}
	return out, nil
}

// DecodeRecord reads the events of a record written by EncodeRecord, without Seq and
// hashes, which the chain assigns when the record is applied.
func DecodeRecord(b []byte) ([]gateway.AuditEvent, error) {
	var events []gateway.AuditEvent
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, errShortBlock
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		chain, err := next()
		if err != nil {
			return nil, err
		}
		block, err := next()
		if err != nil {
			return nil, err
		}
		err = DecodeBlock(string(chain), 1, block, func(e gateway.AuditEvent) error {
			e.Seq, e.PrevHash, e.Hash = 0, "", ""
			events = append(events, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return events, nil
}

// Sync waits until the audit tables hold every event appended before the call, for
// tools and tests that read the database behind the Store's back. Without a journal it
// returns at once.
func (s *Store) Sync(ctx context.Context) error { return s.caughtUp(ctx) }

// JournalStats are the audit journal's figures, for metrics.
type JournalStats struct {
	On            bool   // the store has a journal
	Behind        int64  // bytes appended and not yet in the tables
	ApplyFailures uint64 // transactions moving records into the tables that failed
}

// JournalStats returns the audit journal's figures.
func (s *Store) JournalStats() JournalStats {
	jn := s.jn
	if jn == nil {
		return JournalStats{}
	}
	jn.mu.Lock()
	defer jn.mu.Unlock()
	return JournalStats{On: true, Behind: jn.behind, ApplyFailures: jn.failures.Load()}
}
