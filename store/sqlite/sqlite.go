// Package sqlite is the Store of a gateway running alone: one file in the data
// directory, pure Go (modernc.org/sqlite), nothing to install.
//
// Every write goes through a single connection that begins its transactions IMMEDIATE,
// so writers queue in Go instead of failing on SQLITE_BUSY, and the chain head read by
// AppendAudit cannot move before its commit. The database runs in WAL mode with
// synchronous=FULL: a commit has reached the disk when it returns, which is the promise
// AppendAudit makes. Reads use a separate pool and never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"pudong.gov.cn/gateway/store"
)

// pollInterval is how often a Store looks for grant and request changes made by another
// process on the same file; docs/architecture.md (The sharing policy) wants an approval in
// force everywhere within a second.
const pollInterval = 200 * time.Millisecond

// Store is a store.Store on one SQLite file.
type Store struct {
	w   *sql.DB // one connection; every transaction on it is BEGIN IMMEDIATE
	r   *sql.DB // readers
	log *slog.Logger

	changes chan struct{}
	mu      sync.Mutex
	seen    int64 // the highest change version already signalled

	stop      context.CancelFunc
	polling   chan struct{} // closed when the poller has exited
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, brings its schema up to date and
// starts watching for changes by other processes.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite store: invalid database path %q", path)
	}
	// busy_timeout comes first (the driver orders it so) because switching to WAL itself
	// needs a lock that another process may hold.
	params := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", path+params+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", path+params+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)

	s := &Store{w: w, r: r, log: log, changes: make(chan struct{}, 1), polling: make(chan struct{})}
	applied, err := migrate(ctx, w)
	if err == nil {
		err = r.QueryRowContext(ctx, `SELECT version FROM change_version`).Scan(&s.seen)
	}
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite store: %s: %w", path, err)
	}
	log.Info("sqlite store open", "path", path, "migrations_applied", applied)

	pollCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.poll(pollCtx)
	return s, nil
}

// Changes implements store.Store.
func (s *Store) Changes() <-chan struct{} { return s.changes }

// Ping implements store.Store: one read on the reader pool, of a table the migrations
// create, so a file replaced or emptied under the gateway reads as down.
func (s *Store) Ping(ctx context.Context) error {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite store: ping: %w", err)
	}
	return nil
}

// Close stops watching for changes and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.polling
		s.closeErr = errors.Join(s.w.Close(), s.r.Close())
	})
	return s.closeErr
}

// poll signals Changes when another process (or another Store on the same file) has
// changed requests or grants: each such write bumps change_version in its transaction.
func (s *Store) poll(ctx context.Context) {
	defer close(s.polling)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var v int64
		err := s.r.QueryRowContext(ctx, `SELECT version FROM change_version`).Scan(&v)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.log.Warn("sqlite store: polling for changes failed", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		s.observe(v)
	}
}

// observe records change version v and signals Changes if it is news.
func (s *Store) observe(v int64) {
	s.mu.Lock()
	news := v > s.seen
	if news {
		s.seen = v
	}
	s.mu.Unlock()
	if news {
		select {
		case s.changes <- struct{}{}:
		default:
		}
	}
}

// write runs fn in an IMMEDIATE transaction on the writer connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writeChange is write for changes to requests or grants: it bumps the change version in
// the same transaction and signals Changes once committed.
func (s *Store) writeChange(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var v int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx,
			`UPDATE change_version SET version = version + 1 RETURNING version`).Scan(&v)
		if err != nil {
			return fmt.Errorf("bump change version: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.observe(v)
	return nil
}

// micros and fromMicros convert times to the Unix microseconds the schema stores: exact,
// sortable, and the precision every Store keeps.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func nullPtrMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return nullMicros(*t)
}

func ptrFromMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func timeFromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}
