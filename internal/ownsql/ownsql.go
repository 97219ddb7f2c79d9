// Package ownsql opens the small tables the gateway keeps for itself beside the store
// (data issues, watch lists, notices) on SQLite (modernc) or PostgreSQL (pgx) through
// database/sql, with one set of queries for both: placeholders written as ? and
// rewritten for PostgreSQL as the store's are (sqlstore.Rewrite), times as microseconds
// since the epoch. A SQLite file is opened with the store's connection settings
// (sqlite.DSN), so a change to them reaches these tables too.
package ownsql

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"pudong.gov.cn/gateway/store/postgres" // the store's connection settings, its bound on connecting
	"pudong.gov.cn/gateway/store/sqlite"   // registers the "sqlite" driver, and its settings
	"pudong.gov.cn/gateway/store/sqlstore"
)

// maxPostgresConns caps a PostgreSQL DB's pool.
const maxPostgresConns = 4

// DB is a database/sql handle that knows its dialect.
type DB struct {
	*sql.DB
	postgres bool
}

// Open opens driver "sqlite" (dsn is a file path, created if needed) or "postgres" (dsn
// is a PostgreSQL DSN) and runs the migration statements, which must be re-runnable
// (CREATE ... IF NOT EXISTS).
func Open(ctx context.Context, driver, dsn string, migration []string) (*DB, error) {
	d := &DB{}
	var err error
	switch driver {
	case "postgres":
		d.postgres = true
		var cfg *pgx.ConnConfig
		if cfg, err = postgres.ParseConfig(dsn); err == nil {
			d.DB = stdlib.OpenDB(*cfg)
			// A few connections: these tables see a request now and then, and an unbounded
			// pool would let a stalled server collect a connection per waiting caller.
			d.SetMaxOpenConns(maxPostgresConns)
		}
	case "sqlite", "":
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, err
		}
		if dsn, err = sqlite.DSN(dsn, sqlite.Immediate); err != nil {
			return nil, err
		}
		d.DB, err = sql.Open("sqlite", dsn)
		if err == nil {
			// One connection: SQLite serialises writes anyway, and one connection never
			// waits for a lock another of its own holds.
			d.SetMaxOpenConns(1)
		}
	default:
		return nil, fmt.Errorf("unknown driver %q (sqlite or postgres)", driver)
	}
	if err != nil {
		return nil, err
	}
	for _, s := range migration {
		if _, err := d.ExecContext(ctx, s); err != nil {
			d.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	return d, nil
}

// Q rewrites the ? placeholders of query as $1, $2, … for PostgreSQL.
func (d *DB) Q(query string) string {
	if !d.postgres {
		return query
	}
	return sqlstore.Rewrite(query, func(n int) string { return "$" + strconv.Itoa(n) })
}

// Micros is t as stored: microseconds since the epoch, 0 for the zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros reads a stored time back, in UTC.
func FromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}
