// Package ownsqltest runs a package's tests of its own tables on every database the
// gateway supports.
package ownsqltest

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"pudong.gov.cn/gateway/store/postgres/pgtest"
)

// Each opens the package's tables with open and runs test on them, once per database:
// SQLite always (a fresh file), PostgreSQL in a fresh schema when
// GATEWAY_TEST_POSTGRES_DSN names a database, skipped with a message otherwise.
func Each[DB io.Closer](t *testing.T, open func(ctx context.Context, driver, dsn string) (DB, error), test func(t *testing.T, db DB)) {
	t.Helper()
	run := func(t *testing.T, driver, dsn string) {
		db, err := open(context.Background(), driver, dsn)
		if err != nil {
			t.Fatalf("%s: %v", driver, err)
		}
		t.Cleanup(func() { db.Close() })
		test(t, db)
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "sqlite", filepath.Join(t.TempDir(), "own.db")) })
	t.Run("postgres", func(t *testing.T) { run(t, "postgres", pgtest.FreshSchema(t)) })
}
