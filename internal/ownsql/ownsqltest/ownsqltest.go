// Package ownsqltest runs a package's tests of its own tables on every database the
// gateway supports.
package ownsqltest

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"pudong.gov.cn/gateway/errcode"
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

// Stall makes the SQLite file at path stop taking writes, as a database that stalls
// does: another connection holds its write lock until release or the end of the test,
// so a write waits for the lock for as long as busy_timeout allows (10 s) unless its
// context ends first. Reads still answer (WAL).
func Stall(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("taking the write lock of %s: %v", path, err)
	}
	release = sync.OnceFunc(func() {
		conn.ExecContext(context.Background(), `ROLLBACK`)
		conn.Close()
		db.Close()
	})
	t.Cleanup(release)
	return release
}

// FailWithinBound stalls the SQLite file at path (Stall) and checks that each call, a
// request's, fails with STORE_UNAVAILABLE within bound (store.timeout,
// docs/operators.md) rather than wait for the database; it releases the file after.
func FailWithinBound(t *testing.T, path string, bound time.Duration, calls map[string]func() error) {
	t.Helper()
	release := Stall(t, path)
	defer release()
	for op, call := range calls {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > bound+time.Second {
			t.Errorf("%s took %s with a bound of %s", op, took, bound)
		}
		var ge *gqlerror.Error
		if !errors.As(err, &ge) || ge.Extensions["code"] != errcode.StoreUnavailable {
			t.Errorf("%s with the database stalled: %v, want %s", op, err, errcode.StoreUnavailable)
		}
	}
}
