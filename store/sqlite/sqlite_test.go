package sqlite_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"pudong.gov.cn/gateway/store"
	"pudong.gov.cn/gateway/store/sqlite"
	"pudong.gov.cn/gateway/store/storetest"
)

// opener opens Stores on the database file at path.
func opener(path string) storetest.Opener {
	return func(t *testing.T) store.Store {
		t.Helper()
		s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		return opener(filepath.Join(t.TempDir(), "gateway.db"))
	})
}

// TestMigrationsRunOnce opens the same file twice and checks that each migration is
// recorded once and the durability settings are in force.
func TestMigrationsRunOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	open := opener(path)
	open(t).Close()
	open(t)

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions after two opens", n, distinct)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// TestRefusesNewerSchema keeps an older gateway from writing to a database a newer one
// has migrated.
func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	opener(path)(t).Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
}

// TestUpgrade opens a database written by the gateway before the store was one
// (testdata/sqlite-v3.sql, the dump of a file made by that version).
func TestUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	dump, err := os.ReadFile("../storetest/testdata/sqlite-v3.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(dump)); err != nil {
		t.Fatalf("load the old database: %v", err)
	}
	db.Close()
	storetest.Upgraded(t, opener(path)(t))
}
