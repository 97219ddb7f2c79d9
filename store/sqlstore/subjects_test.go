package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/postgres"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/sqlstore"
)

// emptyDB is an empty database of one dialect: a handle on it for what a test does behind
// the store's back, and how to open the store on it.
type emptyDB struct {
	postgres bool
	raw      *sql.DB
	open     func(t *testing.T) store.Store
}

// load runs a dump of testdata/ in db; fixture names the schema a PostgreSQL dump was taken
// from, which the test's own schema replaces.
func (db emptyDB) load(t *testing.T, file, fixture string) {
	t.Helper()
	dump, err := os.ReadFile(filepath.Join("../storetest/testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.raw.Exec(strings.ReplaceAll(string(dump), fixture+".", "")); err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
}

// eachDialect runs fn on an empty SQLite file and, when GATEWAY_TEST_POSTGRES_DSN is set,
// on an empty PostgreSQL schema.
func eachDialect(t *testing.T, fn func(t *testing.T, db emptyDB)) {
	log := slog.New(slog.DiscardHandler)
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gateway.db")
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		fn(t, emptyDB{raw: raw, open: func(t *testing.T) store.Store {
			s, err := sqlite.Open(context.Background(), path, log)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.FreshSchema(t)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		raw := stdlib.OpenDB(*cfg)
		t.Cleanup(func() { raw.Close() })
		fn(t, emptyDB{postgres: true, raw: raw, open: func(t *testing.T) store.Store {
			s, err := postgres.Open(context.Background(), dsn, log)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}})
	})
}

func scanAll(t *testing.T, s store.Store) []gateway.AuditEvent {
	t.Helper()
	var all []gateway.AuditEvent
	if err := s.ScanAudit(context.Background(), func(e gateway.AuditEvent) error {
		all = append(all, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all
}

// checkBySubject expects ListAudit and CountAudit of each owner's events about each
// subject to be what a filter of all finds, and returns how many events they found.
func checkBySubject(t *testing.T, s store.Store, all []gateway.AuditEvent, owners, subjects []string) int {
	t.Helper()
	ctx := context.Background()
	found := 0
	for _, owner := range owners {
		for _, subject := range subjects {
			var want []gateway.AuditEvent
			for _, e := range all {
				if e.Owner == owner && e.Subject == subject {
					want = append(want, e)
				}
			}
			f := store.AuditFilter{Owner: owner, Subject: subject}
			got, err := s.ListAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ListAudit(%s, %s): %d events, want %d:\n got %+v\nwant %+v", owner, subject, len(got), len(want), got, want)
			}
			if n, err := s.CountAudit(ctx, f); err != nil || n != len(want) {
				t.Errorf("CountAudit(%s, %s) = %d, %v; want %d", owner, subject, n, err, len(want))
			}
			found += len(got)
		}
	}
	return found
}

const (
	zhangWei = "310115198503120012"
	liNa     = "310115199001010029"
	third    = "310115197811200036"
)

// TestUpgradeListsSubjects opens a database written at migration 5 (testdata/sqlite-v5.sql
// and postgres-v5.sql: 20 events of three owners about three people, in seven blocks on
// two chains), to which 150 more blocks are added as that version wrote them, so that the
// migration reads more than one batch. It expects migration 6 to have listed every block
// under each (subject, owner) of its events and no block left unlisted, so that each
// event is found by owner and subject through the listing.
func TestUpgradeListsSubjects(t *testing.T) {
	eachDialect(t, func(t *testing.T, db emptyDB) {
		file := "sqlite-v5.sql"
		if db.postgres {
			file = "postgres-v5.sql"
		}
		db.load(t, file, "gw_fixture_v5")
		people, owners := []string{zhangWei, liNa, third}, []string{"psb", "hrss", "credit"}
		for i := range 150 {
			appendAsMigration5(t, db, fmt.Sprintf("old-%03d", i),
				testEvent(20+2*i, owners[i%3], people[i%3]), testEvent(21+2*i, owners[i/3%3], people[i/2%3]))
		}
		s := db.open(t)
		all := scanAll(t, s)
		if len(all) != 320 {
			t.Fatalf("%d events after the upgrade, want 320", len(all))
		}
		if rep, err := audit.Verify(context.Background(), s); err != nil || !rep.OK() || rep.Checked != 320 {
			t.Fatalf("Verify after the upgrade: %+v, %v", rep, err)
		}
		var unlisted int
		if err := db.raw.QueryRow(`SELECT count(*) FROM audit_block_owners WHERE subjects_listed IS NULL`).Scan(&unlisted); err != nil {
			t.Fatal(err)
		}
		if unlisted != 0 {
			t.Errorf("%d owner rows of blocks written before the upgrade are not listed by subject", unlisted)
		}
		if got, want := listing(t, db.raw), wantListing(t, db.raw, all); !slices.Equal(got, want) {
			t.Errorf("audit_block_subjects after the upgrade:\n got %q\nwant %q", got, want)
		}
		if n := checkBySubject(t, s, all, owners, people); n != 320 {
			t.Errorf("%d events found by owner and subject, want 320", n)
		}
	})
}

// listing is the rows of audit_block_subjects as "subject owner chain first_seq", sorted.
func listing(t *testing.T, raw *sql.DB) []string {
	t.Helper()
	rows, err := raw.Query(`SELECT subject, owner, chain, first_seq FROM audit_block_subjects`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var subject, owner, chain string
		var first int64
		if err := rows.Scan(&subject, &owner, &chain, &first); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d", subject, owner, chain, first))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// wantListing is what listing should hold: each stored block once under each (subject,
// owner) of the events all has in it.
func wantListing(t *testing.T, raw *sql.DB, all []gateway.AuditEvent) []string {
	t.Helper()
	rows, err := raw.Query(`SELECT chain, first_seq, last_seq FROM audit_blocks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var chain string
		var first, last int64
		if err := rows.Scan(&chain, &first, &last); err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			k := fmt.Sprintf("%s %s %s %d", e.Subject, e.Owner, chain, first)
			if e.Chain == chain && e.Seq >= first && e.Seq <= last && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestUnlistedBlocksFound appends a block as a gateway of migration 5 does, after the
// database has been migrated further: a replica not yet upgraded, still running beside one
// that is. Its events are not listed by subject, and queries by subject still find them.
func TestUnlistedBlocksFound(t *testing.T) {
	eachDialect(t, func(t *testing.T, db emptyDB) {
		s := db.open(t)
		ev := testEvent
		if err := s.AppendAudit(context.Background(), []gateway.AuditEvent{ev(0, "psb", zhangWei), ev(1, "hrss", liNa)}); err != nil {
			t.Fatal(err)
		}
		appendAsMigration5(t, db, "replica-old", ev(2, "psb", zhangWei), ev(3, "psb", liNa), ev(4, "hrss", zhangWei))
		if err := s.AppendAudit(context.Background(), []gateway.AuditEvent{ev(5, "psb", zhangWei)}); err != nil {
			t.Fatal(err)
		}
		all := scanAll(t, s)
		if len(all) != 6 {
			t.Fatalf("%d events, want 6", len(all))
		}
		if n := checkBySubject(t, s, all, []string{"psb", "hrss"}, []string{zhangWei, liNa}); n != 6 {
			t.Errorf("%d events found by owner and subject, want 6", n)
		}
		if rep, err := audit.Verify(context.Background(), s); err != nil || !rep.OK() || rep.Checked != 6 {
			t.Errorf("Verify: %+v, %v", rep, err)
		}
	})
}

// testEvent is an audit event about subject on owner's code; i varies its time and request id.
func testEvent(i int, owner, subject string) gateway.AuditEvent {
	return gateway.AuditEvent{At: time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC).Add(time.Duration(i) * time.Minute),
		Consumer: "online-hall", EndUser: "clerk-7", Purpose: "administrative-approval", RequestID: fmt.Sprint("req-", i),
		Code: "310115-X-" + owner, Owner: owner, Subject: subject, Decision: gateway.Allow}
}

// appendAsMigration5 appends events as the first block of chain with the statements of a
// gateway whose schema ends at migration 5.
func appendAsMigration5(t *testing.T, db emptyDB, chain string, events ...gateway.AuditEvent) {
	t.Helper()
	prev, count := "", map[string]int{}
	for i := range events {
		e := &events[i]
		e.Chain, e.Seq, e.PrevHash, e.At = chain, int64(i+1), prev, store.Micro(e.At)
		e.Hash = e.ComputeHash()
		prev = e.Hash
		count[e.Owner]++
	}
	b, err := sqlstore.EncodeBlock(nil, events)
	if err != nil {
		t.Fatal(err)
	}
	p := func(q string) string {
		for n := 1; db.postgres && strings.Contains(q, "?"); n++ {
			q = strings.Replace(q, "?", fmt.Sprint("$", n), 1)
		}
		return q
	}
	at := func(e gateway.AuditEvent) any {
		if db.postgres {
			return e.At
		}
		return e.At.UnixMicro()
	}
	first, last := events[0], events[len(events)-1]
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO audit_heads (chain, seq, hash) VALUES (?, ?, ?)`, []any{chain, last.Seq, last.Hash}},
		{`INSERT INTO audit_blocks (chain, first_seq, last_seq, first_at, last_at, events) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{chain, first.Seq, last.Seq, at(first), at(last), b}},
	}
	for owner, n := range count {
		stmts = append(stmts, struct {
			q    string
			args []any
		}{`INSERT INTO audit_block_owners (owner, chain, first_seq, events) VALUES (?, ?, ?, ?)`, []any{owner, chain, first.Seq, n}})
	}
	for _, st := range stmts {
		if _, err := db.raw.Exec(p(st.q), st.args...); err != nil {
			t.Fatalf("%s: %v", st.q, err)
		}
	}
}
