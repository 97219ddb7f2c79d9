// Package sqlite opens the Store of a gateway running alone: one file in the data
// directory, pure Go (modernc.org/sqlite), nothing to install. The Store itself is
// store/sqlstore; this package is its SQLite dialect.
//
// Every write goes through a single connection that begins its transactions IMMEDIATE,
// so writers queue in Go instead of failing on SQLITE_BUSY, and a transaction holds the
// database's write lock from its first statement: what it reads cannot change before it
// commits, which is why the dialect needs no row locks. The database runs in WAL mode with
// synchronous=FULL: a commit has reached the disk when it returns. Audit appends go to
// the journal beside the file (JournalSuffix), durable when AppendAudit returns, and
// reach the tables in the background (docs/audit.md, "The journal"). Reads use a
// separate pool and never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"pudong.gov.cn/gateway/store/journal"
	"pudong.gov.cn/gateway/store/sqlstore"
)

// params are every connection's settings. busy_timeout comes first (the driver orders it
// so) because switching to WAL itself needs a lock that another process may hold.
const params = "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"

// checkpointEvery is how many polls apart the background checkpoints are: the log is
// copied into the database about once a second, by a connection no commit waits for.
const checkpointEvery = 5

// pollInterval is how often a Store looks for grant and request changes made by another
// process on the same file; docs/architecture.md (The sharing policy) wants an approval in
// force everywhere within a second.
const pollInterval = 200 * time.Millisecond

// Open opens (creating if needed) the database at path, brings its schema up to date and
// starts watching for changes by other processes.
func Open(ctx context.Context, path string, log *slog.Logger) (*sqlstore.Store, error) {
	w, r, err := openDBs(path)
	if err != nil {
		return nil, err
	}
	dsn, _ := DSN(path) // openDBs has checked path
	c, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	s, err := sqlstore.Open(ctx, &dialect{r: r, checkpoints: c, log: log}, w, r, log.With("path", path))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch err := s.UseJournal(ctx, path+JournalSuffix); {
	case errors.Is(err, journal.ErrLocked):
		log.Info("audit journal in use by another process on this database; this one commits its audit events to the database directly",
			"journal", path+JournalSuffix)
	case err != nil:
		s.Close()
		return nil, err
	}
	return s, nil
}

// JournalSuffix names the audit journal beside the database file (docs/audit.md, "The
// journal"): an audited answer waits for one append to it instead of a transaction.
const JournalSuffix = "-audit.journal"

// openDBs opens the writer (one connection, IMMEDIATE transactions) and the readers.
func openDBs(path string) (w, r *sql.DB, err error) {
	// The writer never checkpoints: a checkpoint in a commit (SQLite's default, every
	// 1000 pages) copies the log into the database and syncs it while every audited
	// answer waits; a separate connection does it in the background (checkpointEvery).
	writer, err := DSN(path, "&_pragma=wal_autocheckpoint(0)", Immediate)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite store: %w", err)
	}
	reader, _ := DSN(path, "&_pragma=query_only(1)")
	w, err = sql.Open("sqlite", writer)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err = sql.Open("sqlite", reader)
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return w, r, nil
}

// dialect is SQLite's sqlstore.Dialect.
type dialect struct {
	r           *sql.DB
	checkpoints *sql.DB // one connection; closed when the watcher stops
	log         *slog.Logger

	// seen is the highest change version already signalled, and committed the version
	// this process's last change transaction set: the poller signals only news.
	seen, committed atomic.Int64
}

func (*dialect) Name() string              { return "sqlite" }
func (*dialect) Placeholder(int) string    { return "?" }
func (*dialect) ForUpdate() string         { return "" }
func (*dialect) Time(t time.Time) any      { return t.UnixMicro() }
func (*dialect) CodesJSON(c string) string { return c }

// Type implements sqlstore.Dialect: times are Unix microseconds (UTC), exact and
// sortable; codes are JSON arrays.
func (*dialect) Type(kind string) string {
	switch kind {
	case "time", "int":
		return "INTEGER"
	case "blob":
		return "BLOB"
	default:
		return "TEXT"
	}
}

func (*dialect) Codes(codes []string) (any, error) {
	b, err := json.Marshal(codes)
	if err != nil {
		return nil, fmt.Errorf("encode codes: %w", err)
	}
	return string(b), nil
}

// LockMigrations implements sqlstore.Dialect: every migration runs in an IMMEDIATE
// transaction, which already keeps two processes opening a new file from both applying
// a step.
func (*dialect) LockMigrations(context.Context, *sql.Conn) (func(), error) { return func() {}, nil }

// Changed bumps the change version in the change's transaction.
func (d *dialect) Changed(ctx context.Context, tx *sql.Tx) error {
	var v int64
	if err := tx.QueryRowContext(ctx, `UPDATE change_version SET version = version + 1 RETURNING version`).Scan(&v); err != nil {
		return fmt.Errorf("bump change version: %w", err)
	}
	d.committed.Store(v)
	return nil
}

// Committed marks the version of this process's own change as seen, so the poller does
// not signal it again: the Store signals its own changes at once.
func (d *dialect) Committed() bool {
	storeMax(&d.seen, d.committed.Load())
	return true
}

func storeMax(a *atomic.Int64, v int64) (news bool) {
	for {
		old := a.Load()
		if v <= old {
			return false
		}
		if a.CompareAndSwap(old, v) {
			return true
		}
	}
}

// Watch polls the change version, which every change transaction of any process bumps.
func (d *dialect) Watch(ctx context.Context, signal func(), done chan<- struct{}) error {
	var v int64
	if err := d.r.QueryRowContext(ctx, `SELECT version FROM change_version`).Scan(&v); err != nil {
		return fmt.Errorf("read change version: %w", err)
	}
	d.seen.Store(v)
	go func() {
		defer close(done)
		defer d.checkpoints.Close()
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		failing := false
		for tick := 1; ; tick++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if tick%checkpointEvery == 0 {
				// PASSIVE never waits for readers or the writer; what it cannot copy
				// now, a later one does.
				if _, err := d.checkpoints.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil && ctx.Err() == nil {
					d.log.Warn("sqlite store: checkpoint failed", "err", err)
				}
			}
			err := d.r.QueryRowContext(ctx, `SELECT version FROM change_version`).Scan(&v)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				if !failing {
					d.log.Warn("sqlite store: polling for changes failed", "err", err)
				}
				failing = true
				continue
			}
			failing = false
			if storeMax(&d.seen, v) {
				signal()
			}
		}
	}()
	return nil
}
