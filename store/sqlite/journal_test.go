package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/internal/ownsql/ownsqltest"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/journal"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/sqlstore"
)

// journalEvents are n events of one request, told apart by code.
func journalEvents(req string, n int) []gateway.AuditEvent {
	evs := make([]gateway.AuditEvent, n)
	for i := range evs {
		evs[i] = gateway.AuditEvent{At: time.Now().UTC(), Consumer: "online-hall", Purpose: "administrative-approval",
			RequestID: req, Code: fmt.Sprintf("310115-PSB-RK01-%03d", i), Owner: "psb", Subject: "310115198503120012",
			Decision: gateway.Allow, Chain: "r1"}
	}
	return evs
}

// writeJournal appends one record per batch to the journal beside the database at db,
// as a gateway that crashed before moving them into the tables left it, and returns where
// the records end in the file.
func writeJournal(t *testing.T, db string, batches ...[]gateway.AuditEvent) int64 {
	t.Helper()
	j, _, err := journal.Open(db + sqlite.JournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, evs := range batches {
		rec, err := sqlstore.EncodeRecord(evs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return j.Size()
}

// chainOf reads chain r1 and checks that it links.
func chainOf(t *testing.T, s *sqlstore.Store) []gateway.AuditEvent {
	t.Helper()
	var evs []gateway.AuditEvent
	prev := ""
	err := s.ScanAudit(context.Background(), func(e gateway.AuditEvent) error {
		if e.Seq != int64(len(evs)+1) || e.PrevHash != prev || e.Hash != e.ComputeHash() {
			return fmt.Errorf("event %d does not link: %+v", len(evs)+1, e)
		}
		prev = e.Hash
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func openAt(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestJournalReplayedAtOpen: events a crashed gateway left in the journal — acknowledged
// to their callers but not yet in the tables — are linked into their chain when the
// database opens next, once each, and the journal is emptied.
func TestJournalReplayedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	openAt(t, path).Close()
	writeJournal(t, path, journalEvents("req-1", 3), journalEvents("req-2", 2))
	s := openAt(t, path)
	evs := chainOf(t, s)
	if len(evs) != 5 || evs[0].RequestID != "req-1" || evs[4].RequestID != "req-2" || evs[4].Code != "310115-PSB-RK01-001" {
		t.Fatalf("after replay: %d events %+v", len(evs), evs)
	}
	if fi, err := os.Stat(path + sqlite.JournalSuffix); err != nil || fi.Size() > 64 {
		t.Fatalf("journal after replay: %v, %v; want emptied", fi, err)
	}
	s.Close()
	if evs := chainOf(t, openAt(t, path)); len(evs) != 5 {
		t.Fatalf("second open: %d events, want the same 5", len(evs))
	}
}

// TestJournalAppliedRecordsNotReplayed: a journal holding records the tables already
// hold (a crash after they were applied, before the file was emptied) adds nothing at
// the next open; records after them are added.
func TestJournalAppliedRecordsNotReplayed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.db")
	s := openAt(t, path)
	if err := s.AppendAudit(context.Background(), journalEvents("req-1", 4)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(path + sqlite.JournalSuffix) // the applied record, still in the file
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(path+sqlite.JournalSuffix, kept, 0o600); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, path, journalEvents("req-2", 1))
	evs := chainOf(t, openAt(t, path))
	if len(evs) != 5 || evs[3].RequestID != "req-1" || evs[4].RequestID != "req-2" {
		t.Fatalf("after reopen: %d events, want req-1's 4 once and req-2's 1", len(evs))
	}
}

// TestJournalReadsSeeEveryAppend: an audit read issued after an append returns sees its
// events, without waiting for the applier's pace.
func TestJournalReadsSeeEveryAppend(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "gateway.db"))
	ctx := context.Background()
	for i := range 20 {
		if err := s.AppendAudit(ctx, journalEvents(fmt.Sprint("req-", i), 2)); err != nil {
			t.Fatal(err)
		}
		n, err := s.CountAudit(ctx, store.AuditFilter{Owner: "psb", Subject: "310115198503120012"})
		if err != nil || n != 2*(i+1) {
			t.Fatalf("after append %d: count %d, %v", i, n, err)
		}
		seq, _, err := s.AuditHead(ctx, "r1")
		if err != nil || seq != int64(2*(i+1)) {
			t.Fatalf("after append %d: head %d, %v", i, seq, err)
		}
	}
	if st := s.JournalStats(); !st.On || st.Behind != 0 || st.ApplyFailures != 0 {
		t.Errorf("journal stats after the reads: %+v, want on and caught up", st)
	}
}

// TestJournalInUse: a second store on the same database while the first holds the
// journal commits its appends directly, and both stores' events form the chain.
func TestJournalInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	a, b := openAt(t, path), openAt(t, path)
	ctx := context.Background()
	for _, s := range []*sqlstore.Store{a, b, a} {
		if err := s.AppendAudit(ctx, journalEvents("req", 2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := chainOf(t, b); len(evs) != 6 {
		t.Fatalf("chain seen by the second store: %d events, want 6", len(evs))
	}
}

// TestJournalTornTail: a record a crash cut in half (never acknowledged) is dropped and
// kept aside; the intact records before it are applied.
func TestJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	openAt(t, path).Close()
	end := writeJournal(t, path, journalEvents("req-1", 2), journalEvents("req-2", 3))
	b, _ := os.ReadFile(path + sqlite.JournalSuffix)
	os.WriteFile(path+sqlite.JournalSuffix, b[:end-5], 0o600)
	evs := chainOf(t, openAt(t, path))
	if len(evs) != 2 || evs[1].RequestID != "req-1" {
		t.Fatalf("after a torn tail: %d events, want req-1's 2", len(evs))
	}
	if damaged, _ := filepath.Glob(path + sqlite.JournalSuffix + ".damaged-*"); len(damaged) != 1 {
		t.Fatalf("damaged tails kept: %v", damaged)
	}
}

// TestCloseWithTheDatabaseStalledIsBounded: with the database stalled, Close once waited
// for the apply in flight (up to a minute on PostgreSQL, busy_timeout here) and then
// again for the drain. The apply in flight now gives way to the drain, so Close returns
// within its bound (closeDrain, 10 s, docs/audit.md), and the events stay in the journal
// for the next start.
func TestCloseWithTheDatabaseStalledIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	release := ownsqltest.Stall(t, path)
	if err := s.AppendAudit(context.Background(), journalEvents("stalled", 3)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the applier is waiting for the database's lock
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	const bound = 10*time.Second + 3*time.Second
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatalf("Close still waiting %s after it began, with the database stalled", bound)
	}
	t.Logf("Close took %s", time.Since(start))
	release()
	if evs := chainOf(t, openAt(t, path)); len(evs) != 3 {
		t.Errorf("after the stall, the next start holds %d events, want 3", len(evs))
	}
}
