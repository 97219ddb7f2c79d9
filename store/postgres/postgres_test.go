package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/audit"
	"pudong.gov.cn/gateway/internal/syncbuf"
	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
	"pudong.gov.cn/gateway/store/sqlstore"
	"pudong.gov.cn/gateway/store/storetest"
)

func testDSN(t *testing.T) string { return pgtest.DSN(t) }

func freshSchema(t *testing.T) string { return pgtest.FreshSchema(t) }

func openTest(t *testing.T, dsn string) (*sqlstore.Store, *dialect) {
	t.Helper()
	s, d, err := open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, d
}

// A PostgreSQL that accepts the connection and never answers once held the start-up (and
// `gateway audit verify`) for as long as it stalled: pgx waits for ever unless the DSN
// sets connect_timeout. Open now fails within ConnectTimeout; a DSN's own
// connect_timeout still wins.
func TestOpenFailsOnASilentServer(t *testing.T) {
	silent := pgtest.Silent(t)
	for _, c := range []struct {
		name, dsn string
		bound     time.Duration
	}{{"default", silent, ConnectTimeout}, {"connect_timeout=1", silent + "&connect_timeout=1", time.Second}} {
		dsn, bound := c.dsn, c.bound
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				s, err := Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
				if err == nil {
					s.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Open succeeded against a server that never answers")
				}
				if took := time.Since(start); took < bound/2 {
					t.Errorf("Open gave up after %s, before its bound %s: %v", took, bound, err)
				}
			case <-time.After(bound + 5*time.Second):
				t.Fatalf("Open still waiting %s after its bound %s", 5*time.Second, bound)
			}
		})
	}
}

func openStore(t *testing.T, dsn string) *sqlstore.Store {
	s, _ := openTest(t, dsn)
	return s
}

// rawDB is a connection pool on the test's schema, for what a test does behind the
// store's back.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := freshSchema(t)
		return func(t *testing.T) store.Store { return openStore(t, dsn) }
	})
}

// TestStoreWithJournal runs the conformance suite with an audit journal in front of the
// tables (store.auditJournal), one file per opened store as one per replica: reads see
// every append that has returned, and replicas' journals do not mix.
func TestStoreWithJournal(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn, dir, n := freshSchema(t), t.TempDir(), 0
		return func(t *testing.T) store.Store {
			s := openStore(t, dsn)
			n++
			if err := s.UseJournal(context.Background(), filepath.Join(dir, fmt.Sprint("replica-", n, ".journal"))); err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestReplicasMigrateTogether starts several stores on a new schema at once, as replicas
// rolled out together do: the advisory lock must let exactly one apply each migration.
func TestReplicasMigrateTogether(t *testing.T) {
	dsn := freshSchema(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			s, err := Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	openStore(t, dsn)
	var n, distinct, newest int
	if err := rawDB(t, dsn).QueryRow(
		`SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).Scan(&n, &distinct, &newest); err != nil {
		t.Fatal(err)
	}
	if n != newest || distinct != n {
		t.Errorf("schema_migrations has %d rows (%d versions), want one for each of versions 1 to %d", n, distinct, newest)
	}
}

// A replica that found another one's migration lock held waited for it without a word and
// without end. It now logs the wait, and gives up when its context (store.openTimeout)
// ends; once the lock is free it opens.
func TestMigrationWaitIsLoggedAndBounded(t *testing.T) {
	dsn := freshSchema(t)
	conn, err := rawDB(t, dsn).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_lock(`+migrationLock+`)`); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := Open(ctx, dsn, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		s.Close()
		t.Fatal("Open migrated while another replica held the migration lock")
	}
	if took := time.Since(start); took > 5*time.Second || !strings.Contains(err.Error(), "another replica's schema migration") {
		t.Errorf("Open gave up after %s with %v; want within the context's 1.5s, saying why", took, err)
	}
	if !strings.Contains(logs.String(), "waiting for another replica's schema migration") {
		t.Errorf("the wait is not logged:\n%s", logs.String())
	}
	if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(`+migrationLock+`)`); err != nil {
		t.Fatal(err)
	}
	openStore(t, dsn)
}

// TestListenerReconnects kills the listening connection's backend, as a database
// failover or an idle-connection reaper would, and expects a signal after reconnecting
// (notifications may have been missed) and notifications to flow again.
func TestListenerReconnects(t *testing.T) {
	dsn := freshSchema(t)
	s, d := openTest(t, dsn)
	ctx := context.Background()
	old := d.listenerPID.Load()
	if old == 0 {
		t.Fatal("no listening connection after Open")
	}
	storetest.Drain(s.Changes())
	if _, err := rawDB(t, dsn).ExecContext(ctx, `SELECT pg_terminate_backend($1)`, old); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("no Changes signal after the listening connection was replaced")
	}
	pid := d.listenerPID.Load()
	if pid == 0 || pid == old {
		t.Fatalf("listener PID after reconnecting = %d (was %d)", pid, old)
	}
	changeHeard(t, s, s, time.Second, "a change made after reconnecting")
}

// changeHeard files a sharing request through by and expects listener's Changes signal
// for it within bound.
func changeHeard(t *testing.T, by, listener *sqlstore.Store, bound time.Duration, what string) {
	t.Helper()
	if _, err := by.CreateRequests(context.Background(), []gateway.SharingRequest{{
		Requester: "online-hall", Department: "psb", Purpose: "administrative-approval",
		Codes: []string{"310115-PSB-RK01-002"}, CreatedAt: time.Now(), Deadline: time.Now().Add(time.Hour),
	}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-listener.Changes():
	case <-time.After(bound):
		t.Fatalf("no Changes signal for %s", what)
	}
}

// A listening connection whose network path stops carrying traffic without closing (a
// firewall that forgot it, an address that failed over) once waited for ever, so the
// replica stopped hearing grant changes until its next periodic reload. It now pings the
// server after a silence and replaces a connection that does not answer.
func TestListenerNoticesASilentConnection(t *testing.T) {
	dsn := freshSchema(t)
	through, proxy := pgtest.Through(t, dsn)
	s, d, err := open(context.Background(), through, slog.New(slog.DiscardHandler), func(d *dialect) {
		d.idle, d.probe = 200*time.Millisecond, 300*time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Cleanup(proxy.Close) // before the store closes: nothing may wait on the cut path
	old := d.listenerPID.Load()
	storetest.Drain(s.Changes())

	// A connection that answers its pings is kept.
	time.Sleep(4 * d.idle)
	if pid := d.listenerPID.Load(); pid != old {
		t.Fatalf("a healthy listening connection was replaced (PID %d, was %d)", pid, old)
	}
	select {
	case <-s.Changes():
		t.Fatal("a Changes signal with nothing changed")
	default:
	}

	proxy.Cut()
	select {
	case <-s.Changes(): // reconnected: notifications may have been missed
	case <-time.After(d.idle + d.probe + 5*time.Second):
		t.Fatal("no Changes signal: the listener still waits on a connection that carries nothing")
	}
	if pid := d.listenerPID.Load(); pid == 0 || pid == old {
		t.Fatalf("listener PID after the cut = %d (was %d)", pid, old)
	}
	changeHeard(t, openStore(t, dsn), s, 2*time.Second, "another replica's change after the new connection")
}

// TestOtherSchemasIgnored checks that a change in another schema of the same database,
// which shares the NOTIFY channel, does not wake this store.
func TestOtherSchemasIgnored(t *testing.T) {
	a, b := openStore(t, freshSchema(t)), openStore(t, freshSchema(t))
	ctx := context.Background()
	mk := func(s store.Store) {
		t.Helper()
		if _, err := s.CreateRequests(ctx, []gateway.SharingRequest{{
			Requester: "online-hall", Department: "psb", Purpose: "administrative-approval",
			Codes: []string{"310115-PSB-RK01-002"}, CreatedAt: time.Now(), Deadline: time.Now().Add(time.Hour),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	// A change in b, then one in a: once a's own notification has arrived, b's (sent
	// earlier, on the same channel, to the same listener) has been delivered too.
	mk(b)
	storetest.Drain(a.Changes())
	mk(b)
	mk(a)
	select {
	case <-a.Changes():
	case <-time.After(time.Second):
		t.Fatal("no signal for a change in the store's own schema")
	}
	select {
	case <-a.Changes():
		t.Error("a change in another schema signalled this store")
	default:
	}
}

// TestTamperedChainDetected edits an event in the database behind the store's back.
func TestTamperedChainDetected(t *testing.T) {
	dsn := freshSchema(t)
	s := openStore(t, dsn)
	ctx := context.Background()
	var events []gateway.AuditEvent
	for i := range 4 {
		events = append(events, gateway.AuditEvent{
			At: time.Now(), Consumer: "online-hall", Purpose: "administrative-approval", Code: "310115-PSB-RK01-002",
			Owner: "psb", Subject: fmt.Sprintf("subject-%d", i), Decision: gateway.Allow,
		})
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}
	storetest.Tamper(t, rawDB(t, dsn), true, "", func(evs []gateway.AuditEvent) []gateway.AuditEvent {
		evs[2].Decision = gateway.Deny
		return evs
	})
	rep, err := audit.Verify(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Broken.Seq != 3 || rep.Broken.Kind != audit.HashMismatch {
		t.Errorf("Verify after tampering with seq 3 = %+v, broken %v", rep, rep.Broken)
	}
}

// TestUpgrade opens a schema written by the gateway before the store was one
// (testdata/postgres-v1.sql, pg_dump --inserts of a schema made by that version).
func TestUpgrade(t *testing.T) {
	dsn := freshSchema(t)
	dump, err := os.ReadFile("../storetest/testdata/postgres-v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, dsn).Exec(strings.ReplaceAll(string(dump), "gw_fixture_v1.", "")); err != nil {
		t.Fatalf("load the old schema: %v", err)
	}
	storetest.Upgraded(t, openStore(t, dsn))
}
