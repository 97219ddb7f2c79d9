package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"pudong.gov.cn/gateway/internal/ownsql"
)

// DB keeps watch lists and the notice queue in their own tables, on SQLite or
// PostgreSQL: a notice is stored before anything tries to deliver it, so it survives a
// restart.
type DB struct {
	db *ownsql.DB
}

var migration = []string{
	`CREATE TABLE IF NOT EXISTS watches (
		consumer TEXT NOT NULL,
		subject TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		checked_at BIGINT NOT NULL,
		state TEXT NOT NULL,
		PRIMARY KEY (consumer, subject)
	)`,
	`CREATE INDEX IF NOT EXISTS watches_checked ON watches (checked_at)`,
	`CREATE TABLE IF NOT EXISTS notices (
		id TEXT PRIMARY KEY,
		consumer TEXT NOT NULL,
		subject TEXT NOT NULL,
		change TEXT NOT NULL,
		body TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		next_attempt BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		delivered_at BIGINT NOT NULL,
		last_error TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS notices_due ON notices (status, next_attempt)`,
	`CREATE INDEX IF NOT EXISTS notices_consumer ON notices (consumer, created_at)`,
}

// Open opens the tables on driver "sqlite" (dsn a file path) or "postgres".
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	db, err := ownsql.Open(ctx, driver, dsn, migration)
	if err != nil {
		return nil, fmt.Errorf("notice: %w", err)
	}
	return &DB{db}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Watch is one subject on one consumer's watch list.
type Watch struct {
	Consumer  string
	Subject   string
	CreatedAt time.Time
	CheckedAt time.Time // zero: never read yet
	State     string    // what was seen at CheckedAt (JSON), "" before the first read
}

// Notice is one change of a watched subject for one consumer.
type Notice struct {
	ID          string
	Consumer    string
	Subject     string
	Change      string
	Body        []byte // the JSON delivered and polled
	Status      Status
	Attempts    int
	NextAttempt time.Time
	CreatedAt   time.Time
	DeliveredAt time.Time
	LastError   string
}

// Status is where a notice stands.
type Status string

// The states of a notice.
const (
	Pending   Status = "PENDING"   // waiting for (another) webhook delivery attempt
	Delivered Status = "DELIVERED" // the webhook answered 2xx
	Failed    Status = "FAILED"    // every attempt failed; still readable by polling
	Poll      Status = "POLL"      // the consumer has no webhook: read by polling
)

var micros, fromMicros = ownsql.Micros, ownsql.FromMicros

// AddWatches puts subjects on a consumer's list; subjects already there stay as they are.
func (d *DB) AddWatches(ctx context.Context, consumer string, subjects []string, now time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("notice: watch: %w", err)
	}
	defer tx.Rollback()
	for _, s := range subjects {
		if _, err := tx.ExecContext(ctx, d.db.Q(`INSERT INTO watches (consumer, subject, created_at, checked_at, state)
			VALUES (?, ?, ?, 0, '') ON CONFLICT (consumer, subject) DO NOTHING`), consumer, s, micros(now)); err != nil {
			return fmt.Errorf("notice: watch: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("notice: watch: %w", err)
	}
	return nil
}

// RemoveWatches takes subjects off a consumer's list and returns how many were on it.
func (d *DB) RemoveWatches(ctx context.Context, consumer string, subjects []string) (int, error) {
	n := 0
	for _, s := range subjects {
		res, err := d.db.ExecContext(ctx, d.db.Q(`DELETE FROM watches WHERE consumer = ? AND subject = ?`), consumer, s)
		if err != nil {
			return n, fmt.Errorf("notice: unwatch: %w", err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// Watches returns a consumer's list ("" for every consumer's, limited to limit when > 0)
// whose last read is before checkedBefore (zero: all), least recently read first.
func (d *DB) Watches(ctx context.Context, consumer string, checkedBefore time.Time, limit int) ([]Watch, error) {
	q := `SELECT consumer, subject, created_at, checked_at, state FROM watches WHERE 1 = 1`
	var args []any
	if consumer != "" {
		q += ` AND consumer = ?`
		args = append(args, consumer)
	}
	if !checkedBefore.IsZero() {
		q += ` AND checked_at < ?`
		args = append(args, micros(checkedBefore))
	}
	q += ` ORDER BY checked_at, consumer, subject`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return d.watches(ctx, q, args...)
}

func (d *DB) watches(ctx context.Context, q string, args ...any) ([]Watch, error) {
	rows, err := d.db.QueryContext(ctx, d.db.Q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("notice: watches: %w", err)
	}
	defer rows.Close()
	var out []Watch
	for rows.Next() {
		var w Watch
		var created, checked int64
		if err := rows.Scan(&w.Consumer, &w.Subject, &created, &checked, &w.State); err != nil {
			return nil, fmt.Errorf("notice: watches: %w", err)
		}
		w.CreatedAt, w.CheckedAt = fromMicros(created), fromMicros(checked)
		out = append(out, w)
	}
	return out, rows.Err()
}

// Watchers returns every consumer's watch of one subject.
func (d *DB) Watchers(ctx context.Context, subject string) ([]Watch, error) {
	return d.watches(ctx, `SELECT consumer, subject, created_at, checked_at, state FROM watches WHERE subject = ?`, subject)
}

// Subjects returns every watched subject, of any consumer.
func (d *DB) Subjects(ctx context.Context) (map[string]struct{}, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT subject FROM watches`)
	if err != nil {
		return nil, fmt.Errorf("notice: subjects: %w", err)
	}
	defer rows.Close()
	out := map[string]struct{}{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("notice: subjects: %w", err)
		}
		out[s] = struct{}{}
	}
	return out, rows.Err()
}

// CountWatches counts a consumer's list.
func (d *DB) CountWatches(ctx context.Context, consumer string) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, d.db.Q(`SELECT COUNT(*) FROM watches WHERE consumer = ?`), consumer).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("notice: count watches: %w", err)
	}
	return n, nil
}

// Checked records what a re-read saw and queues its notices, in one transaction: a
// change is either noticed and queued, or seen again by the next read.
func (d *DB) Checked(ctx context.Context, w Watch, state string, at time.Time, notices []Notice) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("notice: checked: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, d.db.Q(`UPDATE watches SET state = ?, checked_at = ? WHERE consumer = ? AND subject = ? AND state = ?`),
		state, micros(at), w.Consumer, w.Subject, w.State)
	if err != nil {
		return fmt.Errorf("notice: checked: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // unwatched meanwhile, or another replica recorded this change first
	}
	for _, n := range notices {
		if _, err := tx.ExecContext(ctx, d.db.Q(`INSERT INTO notices (id, consumer, subject, change, body, status, attempts,
			next_attempt, created_at, delivered_at, last_error) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, '')`),
			n.ID, n.Consumer, n.Subject, n.Change, string(n.Body), string(n.Status), micros(n.CreatedAt), micros(n.CreatedAt)); err != nil {
			return fmt.Errorf("notice: queue: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("notice: checked: %w", err)
	}
	return nil
}

const noticeColumns = `id, consumer, subject, change, body, status, attempts, next_attempt, created_at, delivered_at, last_error`

func (d *DB) notices(ctx context.Context, where string, args ...any) ([]Notice, error) {
	rows, err := d.db.QueryContext(ctx, d.db.Q(`SELECT `+noticeColumns+` FROM notices WHERE `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("notice: list: %w", err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		var n Notice
		var body, status string
		var next, created, delivered int64
		if err := rows.Scan(&n.ID, &n.Consumer, &n.Subject, &n.Change, &body, &status, &n.Attempts, &next, &created, &delivered, &n.LastError); err != nil {
			return nil, fmt.Errorf("notice: list: %w", err)
		}
		n.Body, n.Status = []byte(body), Status(status)
		n.NextAttempt, n.CreatedAt, n.DeliveredAt = fromMicros(next), fromMicros(created), fromMicros(delivered)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Notices returns a consumer's notices, all or in one status, oldest first, after the
// notice afterID when it is set, at most limit.
func (d *DB) Notices(ctx context.Context, consumer string, status Status, afterID string, limit int) ([]Notice, error) {
	where, args := `consumer = ?`, []any{consumer}
	if status != "" {
		where += ` AND status = ?`
		args = append(args, string(status))
	}
	if afterID != "" {
		var at int64
		err := d.db.QueryRowContext(ctx, d.db.Q(`SELECT created_at FROM notices WHERE id = ? AND consumer = ?`), afterID, consumer).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrUnknownNotice
		}
		if err != nil {
			return nil, fmt.Errorf("notice: list: %w", err)
		}
		where += ` AND (created_at > ? OR created_at = ? AND id > ?)`
		args = append(args, at, at, afterID)
	}
	return d.notices(ctx, where+` ORDER BY created_at, id LIMIT ?`, append(args, limit)...)
}

// ErrUnknownNotice is returned for an after cursor that names none of the consumer's
// notices.
var ErrUnknownNotice = errors.New("no such notice")

// Due returns pending notices whose next attempt is due at now, oldest first.
func (d *DB) Due(ctx context.Context, now time.Time, limit int) ([]Notice, error) {
	return d.notices(ctx, `status = ? AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?`, string(Pending), micros(now), limit)
}

// Attempted records a delivery attempt: delivered, retried at next, or failed for good.
func (d *DB) Attempted(ctx context.Context, id string, status Status, attempts int, next, at time.Time, lastErr string) error {
	delivered := time.Time{}
	if status == Delivered {
		delivered = at
	}
	res, err := d.db.ExecContext(ctx, d.db.Q(`UPDATE notices SET status = ?, attempts = ?, next_attempt = ?, delivered_at = ?, last_error = ?
		WHERE id = ? AND status = ?`), string(status), attempts, micros(next), micros(delivered), lastErr, id, string(Pending))
	if err != nil {
		return fmt.Errorf("notice: attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errAlreadyDone
	}
	return nil
}

// errAlreadyDone: another replica finished the notice first.
var errAlreadyDone = errors.New("notice already delivered or failed")
