// Package sqlstore is the gateway's one store.Store, written once on database/sql. The
// databases it runs on (store/sqlite for a gateway alone, store/postgres for replicas)
// differ only in a Dialect: how a parameter is written, how a transaction locks the row
// it will change, how a change reaches the other processes, and the column types of the
// schema. Everything else — the statements, the decisions, the audit chain — is here,
// so the two back-ends cannot drift apart.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"pudong.gov.cn/gateway/store"
)

// Dialect is what differs between the databases a Store runs on.
type Dialect interface {
	// Name names the database in errors and logs ("sqlite", "postgres").
	Name() string
	// Placeholder writes the n-th (from 1) statement parameter.
	Placeholder(n int) string
	// ForUpdate ends a SELECT whose rows the transaction is about to change, so that a
	// concurrent transaction waits for this one instead of reading the old values; ""
	// where every write transaction already holds the whole database (SQLite).
	ForUpdate() string
	// Type names the column type of a kind of value in DDL: "text", "time", "codes"
	// (a list of catalogue codes), "int" (64-bit), "blob" (bytes).
	Type(kind string) string
	// Time converts a time to the stored form; times are scanned back with scanTime,
	// which accepts every stored form.
	Time(t time.Time) any
	// Codes converts a list of catalogue codes to the stored form, and CodesJSON is the
	// expression reading a codes column back as a JSON array of strings.
	Codes(codes []string) (any, error)
	CodesJSON(column string) string

	// Changed runs inside every transaction that changes requests or grants, so that
	// the other processes on the database learn of it once it commits; Committed runs
	// after such a commit and reports whether the Store must signal the change itself
	// (false where Watch hears this process's own changes too).
	Changed(ctx context.Context, tx *sql.Tx) error
	Committed() (signalHere bool)
	// Watch calls signal for every change made by any process on the database, until
	// ctx ends. It returns once it is watching; the watcher then runs in the background
	// and closes done when it has stopped.
	Watch(ctx context.Context, signal func(), done chan<- struct{}) error

	// LockMigrations keeps other processes from migrating the schema while conn holds the
	// lock; the returned function releases it. Dialects whose migration transactions
	// already exclude each other return a no-op.
	LockMigrations(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
}

// Store is a store.Store on a SQL database.
type Store struct {
	d   Dialect
	w   *sql.DB // write transactions
	r   *sql.DB // reads; may be w
	log *slog.Logger

	requestColumns, grantColumns string
	app                          appendStmts
	jn                           *journaled // nil: appends commit to the tables (UseJournal)

	changes   chan struct{}
	stop      context.CancelFunc
	watching  chan struct{} // closed when the watcher has exited
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open brings the schema of the database behind w up to date and starts watching for
// changes. Writes go through w and reads through r (the same pool, or for SQLite a
// read-only one); the Store owns both and closes them, also when Open fails.
func Open(ctx context.Context, d Dialect, w, r *sql.DB, log *slog.Logger) (*Store, error) {
	s := &Store{
		d: d, w: w, r: r, log: log,
		requestColumns: `id, requester, requested_by, department, ` + d.CodesJSON("codes") + `, purpose, justification,
	status, created_at, deadline, decided_at, decided_by, reason, valid_until, grant_id`,
		grantColumns: `id, consumer, purpose, ` + d.CodesJSON("codes") + `, department, request_id, granted_by,
	created_at, valid_until, revoked_at, revoked_by`,
		changes:  make(chan struct{}, 1),
		watching: make(chan struct{}),
	}
	fail := func(err error) (*Store, error) {
		s.closeDBs()
		return nil, fmt.Errorf("%s store: %w", d.Name(), err)
	}
	applied, err := migrate(ctx, d, w, log)
	if err == nil {
		err = s.prepareAppend(ctx)
	}
	if err != nil {
		return fail(err)
	}
	watchCtx, stop := context.WithCancel(context.Background())
	if err := d.Watch(watchCtx, s.signal, s.watching); err != nil {
		stop()
		return fail(err)
	}
	s.stop = stop
	log.Info(d.Name()+" store open", "migrations_applied", applied)
	return s, nil
}

// Changes implements store.Store.
func (s *Store) Changes() <-chan struct{} { return s.changes }

// Ping implements store.Store: one read of the migrations table on the read pool, so a
// database that does not answer, or whose schema was dropped or replaced, reads as down.
func (s *Store) Ping(ctx context.Context) error {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("%s store: ping: %w", s.d.Name(), err)
	}
	return nil
}

// Close stops watching for changes and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeJournal()
		s.stop()
		<-s.watching
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	for _, st := range []*sql.Stmt{s.app.head, s.app.newHead, s.app.advance, s.app.block, s.app.owner, s.app.subject} {
		if st != nil {
			st.Close()
		}
	}
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.w.Close(), s.r.Close())
}

func (s *Store) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// q rewrites a statement written with ? parameters into the dialect's notation.
func (s *Store) q(query string) string { return rewrite(s.d, query) }

// rewrite writes the ? parameters of query in d's notation.
func rewrite(d Dialect, query string) string { return Rewrite(query, d.Placeholder) }

// write runs fn in a transaction on the writer.
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

// writeChange is write for changes to requests or grants: the other processes on the
// database are told once it commits, and so is this Store's reader of Changes.
func (s *Store) writeChange(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.d.Changed(ctx, tx)
	})
	if err != nil {
		return err
	}
	if s.d.Committed() {
		s.signal()
	}
	return nil
}

// errf wraps err as the failure of what, naming the database.
func (s *Store) errf(err error, what string, args ...any) error {
	return fmt.Errorf("%s store: %s: %w", s.d.Name(), fmt.Sprintf(what, args...), err)
}

// scanTime reads a time column in any stored form: Unix microseconds (SQLite) or a
// timestamp (PostgreSQL). NULL leaves it invalid.
type scanTime struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner.
func (st *scanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		st.t, st.valid = time.Time{}, false
	case int64:
		st.t, st.valid = time.UnixMicro(v).UTC(), true
	case time.Time:
		st.t, st.valid = v.UTC(), true
	default:
		return fmt.Errorf("time column holds a %T", v)
	}
	return nil
}

// ptr is the time, or nil for NULL.
func (st scanTime) ptr() *time.Time {
	if !st.valid {
		return nil
	}
	t := st.t
	return &t
}

// nullTime stores the zero time as NULL.
func (s *Store) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.Time(t)
}

func (s *Store) nullTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.nullTime(*t)
}
