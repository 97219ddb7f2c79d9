// Package postgres opens the Store of a gateway running as several replicas on one
// PostgreSQL database, through pgx's database/sql driver. The Store itself is
// store/sqlstore; this package is its PostgreSQL dialect.
//
// Replicas learn about each other's grant and request changes through LISTEN/NOTIFY:
// every such transaction sends NOTIFY on the channel gateway_changes before it commits
// (PostgreSQL delivers it only if it does), and each Store keeps one connection, outside
// its pool, listening. The payload is the schema the change happened in, so gateways of
// different schemas in one database ignore each other.
//
// Rows a transaction is about to change are read FOR UPDATE. Each audit chain has one
// head row, locked for the length of an append; replicas write chains of their own, so
// they do not queue on one row.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"pudong.gov.cn/gateway/store/sqlstore"
)

// channel is the NOTIFY channel of grant and request changes.
const channel = "gateway_changes"

// maxConns caps the Store's pool: enough for concurrent readers beside the audit's one
// writer at a time, without taking a large share of the server's connections per replica.
const maxConns = 8

// Reconnection backoff of the listening connection: quick at first, because every moment
// without it is a moment a revoked grant may still be honoured, then patient so as not
// to hammer a database that is down.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// A listening connection only reads, so one whose path stops carrying traffic without
// closing (a failed-over address, a firewall that forgot the idle connection) would wait
// for ever while changes go unheard. After listenIdle without a notification the
// listener pings the server, and replaces the connection when no answer comes within
// listenProbe (docs/operators.md, store).
const (
	listenIdle  = 15 * time.Second
	listenProbe = 5 * time.Second
)

// ConnectTimeout bounds each new connection to the database, from the dial to the end of
// authentication, when the DSN sets no connect_timeout (or sets 0, libpq's "wait for
// ever"): a server that accepts the connection and never answers fails the start-up, the
// gateway audit commands and the listener's reconnection within it instead of holding
// them (docs/operators.md, store).
const ConnectTimeout = 5 * time.Second

// ParseConfig parses dsn as pgx does, and bounds its connections by ConnectTimeout
// unless the dsn says otherwise. Every connection the gateway makes to PostgreSQL is
// configured by it.
func ParseConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	return cfg, nil
}

// Open connects to the database dsn names (any libpq connection string or URL; a
// search_path parameter selects the schema), brings the schema up to date, and starts
// listening for changes. It returns once the listener is in place, so no change made
// after Open returns goes unnoticed.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*sqlstore.Store, error) {
	s, _, err := open(ctx, dsn, log)
	return s, err
}

// open is Open; tune, for tests, adjusts the dialect before the store starts.
func open(ctx context.Context, dsn string, log *slog.Logger, tune ...func(*dialect)) (*sqlstore.Store, *dialect, error) {
	cfg, err := ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres store: parse dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	var schema *string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("postgres store: connect: %w", err)
	}
	if schema == nil {
		db.Close()
		return nil, nil, errors.New("postgres store: the search_path names no existing schema")
	}
	listenCfg := cfg.Copy()
	listenCfg.RuntimeParams["application_name"] = "pudong-gateway-listener"
	d := &dialect{listenCfg: listenCfg, schema: *schema, log: log, idle: listenIdle, probe: listenProbe}
	for _, f := range tune {
		f(d)
	}
	st, err := sqlstore.Open(ctx, d, db, db, log.With("schema", *schema))
	return st, d, err
}

// dialect is PostgreSQL's sqlstore.Dialect.
type dialect struct {
	listenCfg   *pgx.ConnConfig
	schema      string // current_schema() of the pool's connections: the NOTIFY payload
	log         *slog.Logger
	listenerPID atomic.Uint32 // backend of the listening connection, 0 while reconnecting
	idle, probe time.Duration // listenIdle, listenProbe
}

// Name implements sqlstore.Dialect.
func (*dialect) Name() string { return "postgres" }

// Placeholder implements sqlstore.Dialect.
func (*dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// ForUpdate implements sqlstore.Dialect.
func (*dialect) ForUpdate() string { return " FOR UPDATE" }

// Time implements sqlstore.Dialect.
func (*dialect) Time(t time.Time) any { return t }

// Codes implements sqlstore.Dialect: pgx encodes a []string as text[].
func (*dialect) Codes(codes []string) (any, error) {
	if codes == nil {
		codes = []string{}
	}
	return codes, nil
}

// CodesJSON implements sqlstore.Dialect.
func (*dialect) CodesJSON(column string) string { return "array_to_json(" + column + ")::text" }

// Type implements sqlstore.Dialect.
func (*dialect) Type(kind string) string {
	switch kind {
	case "time":
		return "timestamptz"
	case "codes":
		return "text[]"
	case "blob":
		return "bytea"
	case "int":
		return "bigint"
	default:
		return "text"
	}
}

// migrationLock is the advisory lock key of migrations, one per schema.
const migrationLock = `hashtextextended('pudong-gateway-migrations:' || current_schema(), 0)`

// Waiting for another replica's migrations: the lock is tried every migrationPoll, and
// the wait is logged at once and every migrationWaitLog, until the caller's ctx (the
// start's store.openTimeout) ends it.
const (
	migrationPoll    = 250 * time.Millisecond
	migrationWaitLog = 30 * time.Second
)

// LockMigrations implements sqlstore.Dialect with a session advisory lock, so that
// replicas starting together apply each step once. A replica that waits says so in the
// log, and gives up when ctx ends.
func (d *dialect) LockMigrations(ctx context.Context, conn *sql.Conn) (func(), error) {
	start := time.Now()
	var logged time.Time
	for {
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+migrationLock+`)`).Scan(&got); err != nil {
			return nil, err
		}
		if got {
			break
		}
		if time.Since(logged) >= migrationWaitLog {
			logged = time.Now()
			d.log.Warn("waiting for another replica's schema migration (it holds the migration lock)", "schema", d.schema, "waited", time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("another replica's schema migration held the lock for %s: %w", time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-time.After(migrationPoll):
		}
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+migrationLock+`)`); err != nil {
			// The lock dies with the session; make sure the session dies.
			conn.Raw(func(c any) error { return c.(*stdlib.Conn).Close() })
		}
	}, nil
}

// Changed queues the change notification in tx; PostgreSQL sends it on commit.
func (*dialect) Changed(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, current_schema())`, channel); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Committed implements sqlstore.Dialect: the listener hears this process's own changes.
func (*dialect) Committed() bool { return false }

// Watch connects the listening connection and keeps it (see listen).
func (d *dialect) Watch(ctx context.Context, signal func(), done chan<- struct{}) error {
	conn, err := d.connectListener(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer close(done)
		d.listen(ctx, conn, signal)
	}()
	return nil
}

func (d *dialect) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, d.listenCfg)
	if err != nil {
		return nil, fmt.Errorf("listener: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listener: listen: %w", err)
	}
	d.listenerPID.Store(conn.PgConn().PID())
	return conn, nil
}

// listen owns the listening connection: it turns notifications for this schema into
// signals, and replaces the connection when it fails. Notifications sent while it was
// down are lost, so after reconnecting it signals once, and the gateway reloads.
func (d *dialect) listen(ctx context.Context, conn *pgx.Conn, signal func()) {
	backoff := minBackoff
	for {
		for conn == nil {
			c, err := d.connectListener(ctx)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				conn, backoff = c, minBackoff
				d.log.Info("postgres store: listening again", "channel", channel)
				signal()
				break
			}
			d.log.Warn("postgres store: cannot listen for changes", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
		}

		err := d.receive(ctx, conn, signal)
		d.listenerPID.Store(0)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
		conn = nil
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("postgres store: lost the listening connection; reconnecting", "err", err)
	}
}

// receive waits for notifications until the connection fails, stops answering a ping
// after a silence of d.idle, or ctx ends.
func (d *dialect) receive(ctx context.Context, conn *pgx.Conn, signal func()) error {
	for {
		wait, cancel := context.WithTimeout(ctx, d.idle)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			if n.Payload == d.schema {
				signal()
			}
		case ctx.Err() != nil || !pgconn.Timeout(err):
			return err
		default:
			probe, cancel := context.WithTimeout(ctx, d.probe)
			err := conn.Ping(probe)
			cancel()
			if err != nil {
				return fmt.Errorf("silent for %s and no answer to a ping within %s: %w", d.idle, d.probe, err)
			}
		}
	}
}
