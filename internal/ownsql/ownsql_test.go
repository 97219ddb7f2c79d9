package ownsql

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"pudong.gov.cn/gateway/internal/ownsql/ownsqltest"
	"pudong.gov.cn/gateway/store/postgres"
	"pudong.gov.cn/gateway/store/postgres/pgtest"
	"pudong.gov.cn/gateway/store/sqlite"
)

// The tables beside a PostgreSQL store connect with the store's bound: against a server
// that accepts the connection and never answers, Open (and so the start-up) fails within
// postgres.ConnectTimeout instead of waiting for ever.
func TestOpenFailsOnASilentServer(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		db, err := Open(context.Background(), "postgres", pgtest.Silent(t), []string{`SELECT 1`})
		if err == nil {
			db.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Open succeeded against a server that never answers")
		}
	case <-time.After(postgres.ConnectTimeout + 5*time.Second):
		t.Fatalf("Open still waiting %s after postgres.ConnectTimeout", 5*time.Second)
	}
}

// Placeholders are rewritten for PostgreSQL only.
func TestQ(t *testing.T) {
	const q = `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`
	if got := (&DB{}).Q(q); got != q {
		t.Errorf("SQLite: %s", got)
	}
	if got, want := (&DB{postgres: true}).Q(q), `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`; got != want {
		t.Errorf("PostgreSQL: %s, want %s", got, want)
	}
}

// The gateway's own tables on SQLite run with the store's connection settings: each
// setting reads the same on their connection as on one opened with sqlite.DSN, so a
// change to the store's settings reaches them too. Their writes begin IMMEDIATE.
func TestSQLiteHasTheStoresSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "own.db")
	own, err := Open(context.Background(), "sqlite", path, []string{`CREATE TABLE IF NOT EXISTS t (a INTEGER)`})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	dsn, err := sqlite.DSN(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pragma := func(db *sql.DB, name string) (v string) {
		if err := db.QueryRow(`PRAGMA ` + name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, name := range []string{"busy_timeout", "journal_mode", "synchronous", "foreign_keys"} {
		if got, want := pragma(own.DB, name), pragma(store, name); got != want {
			t.Errorf("PRAGMA %s = %s on the own tables' connection, %s on the store's", name, got, want)
		}
	}
	// An IMMEDIATE transaction holds the write lock from BEGIN: the store's connection
	// cannot write until it ends.
	tx, err := own.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := store.Exec(`PRAGMA busy_timeout = 0; INSERT INTO t VALUES (1)`); err == nil {
		t.Error("a transaction of the own tables does not take the write lock at BEGIN")
	}
}

// Every pool is capped: one connection on SQLite, maxPostgresConns on PostgreSQL, so a
// stalled server holds a bounded number of connections however many callers wait.
func TestPoolsAreCapped(t *testing.T) {
	ownsqltest.Each(t, func(ctx context.Context, driver, dsn string) (*DB, error) {
		return Open(ctx, driver, dsn, nil)
	}, func(t *testing.T, db *DB) {
		want := 1
		if db.postgres {
			want = maxPostgresConns
		}
		if got := db.Stats().MaxOpenConnections; got != want {
			t.Errorf("pool capped at %d connections, want %d", got, want)
		}
	})
}
