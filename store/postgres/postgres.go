// Package postgres is the Store of a gateway running as several replicas on one
// PostgreSQL database (pgx/v5).
//
// Replicas learn about each other's grant and request changes through LISTEN/NOTIFY:
// every such transaction sends NOTIFY on the channel gateway_changes before it commits
// (PostgreSQL delivers it only if it does), and each Store keeps one connection, outside
// its pool, listening. The payload is the schema the change happened in, so gateways of
// different schemas in one database ignore each other.
//
// The audit chain has one head row; AppendAudit locks it (SELECT … FOR UPDATE) for the
// length of its transaction, which serialises appends from all replicas into one chain.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"pudong.gov.cn/gateway/store"
)

// channel is the NOTIFY channel of grant and request changes.
const channel = "gateway_changes"

// Reconnection backoff of the listening connection: quick at first, because every moment
// without it is a moment a revoked grant may still be honoured, then patient so as not
// to hammer a database that is down.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Store is a store.Store on a PostgreSQL schema.
type Store struct {
	pool   *pgxpool.Pool
	schema string // current_schema() of the pool's connections: the NOTIFY payload
	log    *slog.Logger

	changes     chan struct{}
	stop        context.CancelFunc
	listening   chan struct{} // closed when the listener has exited
	listenerPID atomic.Uint32 // backend of the listening connection, 0 while reconnecting
	closeOnce   sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database dsn names (any libpq connection string or URL; a
// search_path parameter selects the schema), brings the schema up to date, and starts
// listening for changes. It returns once the listener is in place, so no change made
// after Open returns goes unnoticed.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: connect: %w", err)
	}
	s := &Store{pool: pool, log: log, changes: make(chan struct{}, 1), listening: make(chan struct{})}
	if err := s.init(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}

	listenCfg := cfg.ConnConfig.Copy()
	listenCfg.RuntimeParams["application_name"] = "pudong-gateway-listener"
	conn, err := s.connectListener(ctx, listenCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	listenCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.listen(listenCtx, listenCfg, conn)
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	var schema *string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if schema == nil {
		return errors.New("the search_path names no existing schema")
	}
	s.schema = *schema
	applied, err := s.migrate(ctx)
	if err != nil {
		return err
	}
	s.log.Info("postgres store open", "schema", s.schema, "migrations_applied", applied)
	return nil
}

// Changes implements store.Store.
func (s *Store) Changes() <-chan struct{} { return s.changes }

// Ping implements store.Store: one round trip on a pooled connection to the migrations table,
// which exists once the migrations have run, so a dropped schema reads as down too.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres store: ping: %w", err)
	}
	return nil
}

// Close stops listening and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.listening
		s.pool.Close()
	})
	return nil
}

func (s *Store) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

func (s *Store) connectListener(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("listener: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listener: listen: %w", err)
	}
	s.listenerPID.Store(conn.PgConn().PID())
	return conn, nil
}

// listen owns the listening connection: it turns notifications for this schema into
// Changes signals, and replaces the connection when it fails. Notifications sent while
// it was down are lost, so after reconnecting it signals once, and the gateway reloads.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	defer close(s.listening)
	backoff := minBackoff
	for {
		for conn == nil {
			c, err := s.connectListener(ctx, cfg)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				conn, backoff = c, minBackoff
				s.log.Info("postgres store: listening again", "channel", channel)
				s.signal()
				break
			}
			s.log.Warn("postgres store: cannot listen for changes", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
		}

		err := s.receive(ctx, conn)
		s.listenerPID.Store(0)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
		conn = nil
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres store: lost the listening connection; reconnecting", "err", err)
	}
}

// receive waits for notifications until the connection fails or ctx ends.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == s.schema {
			s.signal()
		}
	}
}

// notify queues the change notification in tx; PostgreSQL sends it on commit.
func (s *Store) notify(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, current_schema())`, channel); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// utcPtr normalises a scanned nullable time to UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
