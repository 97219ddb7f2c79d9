package quality

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pudong.gov.cn/gateway/internal/ownsql"
	"pudong.gov.cn/gateway/store"
)

// Errors of the DB; compare them with errors.Is.
var (
	ErrNotFound        = errors.New("no such data issue")
	ErrAlreadyResolved = errors.New("data issue already resolved")
)

// DB keeps objections and findings in their own table, on SQLite or PostgreSQL through
// database/sql: apart from the gateway's store, so the two evolve independently.
type DB struct {
	db *ownsql.DB
}

// Open opens the issue table on driver "sqlite" (dsn is a file path, created if
// needed) or "postgres" (dsn is a PostgreSQL DSN), and creates the table if it is not
// there yet.
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	db, err := ownsql.Open(ctx, driver, dsn, migration)
	if err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	return &DB{db}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// migration creates the table and its indexes.
var migration = []string{
	`CREATE TABLE IF NOT EXISTS data_issues (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		code TEXT NOT NULL,
		department TEXT NOT NULL,
		subject TEXT NOT NULL,
		description TEXT NOT NULL,
		suggested_value TEXT NOT NULL,
		filed_by TEXT NOT NULL,
		filed_by_user TEXT NOT NULL,
		citizen TEXT NOT NULL,
		status TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		deadline BIGINT NOT NULL,
		resolved_at BIGINT NOT NULL,
		resolved_by TEXT NOT NULL,
		note TEXT NOT NULL,
		finding_key TEXT
	)`,
	// Once per subject and item: a second finding of the same kind is not stored.
	`CREATE UNIQUE INDEX IF NOT EXISTS data_issues_finding_key ON data_issues (finding_key)`,
	`CREATE INDEX IF NOT EXISTS data_issues_department ON data_issues (department, created_at)`,
}

// migrate runs the migration again (it is re-runnable).
func (d *DB) migrate(ctx context.Context) error {
	for _, s := range migration {
		if _, err := d.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("quality: migrate: %w", err)
		}
	}
	return nil
}

const issueColumns = `id, kind, code, department, subject, description, suggested_value, filed_by, filed_by_user,
	citizen, status, created_at, deadline, resolved_at, resolved_by, note`

var micros, fromMicros = ownsql.Micros, ownsql.FromMicros

// Insert stores a new issue with ID assigned. A finding whose key is already stored is
// not stored again: Insert then returns false.
func (d *DB) Insert(ctx context.Context, is *Issue, findingKey string) (bool, error) {
	if is.ID == "" {
		prefix := "DQ"
		if is.Kind == Finding {
			prefix = "DF"
		}
		is.ID = store.NewID(prefix, is.CreatedAt)
	}
	var key any
	if findingKey != "" {
		key = findingKey
	}
	res, err := d.db.ExecContext(ctx, d.db.Q(`INSERT INTO data_issues (`+issueColumns+`, finding_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (finding_key) DO NOTHING`),
		is.ID, string(is.Kind), is.Code, is.Department, is.Subject, is.Description, is.SuggestedValue, is.FiledBy, is.FiledByUser,
		is.Citizen, string(is.Status), micros(is.CreatedAt), micros(is.Deadline), micros(is.ResolvedAt), is.ResolvedBy, is.Note, key)
	if err != nil {
		return false, fmt.Errorf("quality: insert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("quality: insert: %w", err)
	}
	return n == 1, nil
}

// Get returns one issue, or ErrNotFound.
func (d *DB) Get(ctx context.Context, id string) (*Issue, error) {
	list, err := d.list(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}

// Filter selects issues; empty fields select everything. Department and FiledBy select
// what one caller may see (those addressed to its department and those it filed); with
// both set an issue matching either is selected. Citizen narrows FiledBy to one citizen's
// own objections (self-service consumers file for many citizens).
type Filter struct {
	Department string
	FiledBy    string
	Citizen    string
	Kind       Kind
}

// List returns the issues f selects, newest first.
func (d *DB) List(ctx context.Context, f Filter) ([]Issue, error) {
	var where []string
	var args []any
	var who []string
	if f.Department != "" {
		who = append(who, `department = ?`)
		args = append(args, f.Department)
	}
	if f.FiledBy != "" {
		cond := `filed_by = ?`
		args = append(args, f.FiledBy)
		if f.Citizen != "" {
			cond = `(filed_by = ? AND citizen = ?)`
			args = append(args, f.Citizen)
		}
		who = append(who, cond)
	}
	if len(who) > 0 {
		where = append(where, "("+strings.Join(who, " OR ")+")")
	}
	if f.Kind != "" {
		where = append(where, `kind = ?`)
		args = append(args, string(f.Kind))
	}
	clause := ""
	if len(where) > 0 {
		clause = "WHERE " + strings.Join(where, " AND ")
	}
	return d.list(ctx, clause+` ORDER BY created_at DESC, id`, args...)
}

func (d *DB) list(ctx context.Context, clause string, args ...any) ([]Issue, error) {
	rows, err := d.db.QueryContext(ctx, d.db.Q(`SELECT `+issueColumns+` FROM data_issues `+clause), args...)
	if err != nil {
		return nil, fmt.Errorf("quality: list: %w", err)
	}
	defer rows.Close()
	var out []Issue
	for rows.Next() {
		var is Issue
		var kind, status string
		var created, deadline, resolved int64
		if err := rows.Scan(&is.ID, &kind, &is.Code, &is.Department, &is.Subject, &is.Description, &is.SuggestedValue,
			&is.FiledBy, &is.FiledByUser, &is.Citizen, &status, &created, &deadline, &resolved, &is.ResolvedBy, &is.Note); err != nil {
			return nil, fmt.Errorf("quality: list: %w", err)
		}
		is.Kind, is.Status = Kind(kind), Status(status)
		is.CreatedAt, is.Deadline, is.ResolvedAt = fromMicros(created), fromMicros(deadline), fromMicros(resolved)
		out = append(out, is)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quality: list: %w", err)
	}
	return out, nil
}

// Resolve records the owner's answer to an open issue. Of two concurrent answers
// exactly one wins; the other gets ErrAlreadyResolved.
func (d *DB) Resolve(ctx context.Context, id string, outcome Status, by, note string, at time.Time) (*Issue, error) {
	res, err := d.db.ExecContext(ctx, d.db.Q(`UPDATE data_issues SET status = ?, resolved_at = ?, resolved_by = ?, note = ?
		WHERE id = ? AND status = ?`), string(outcome), micros(at), by, note, id, string(StatusOpen))
	if err != nil {
		return nil, fmt.Errorf("quality: resolve: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("quality: resolve: %w", err)
	}
	is, err := d.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrAlreadyResolved
	}
	return is, nil
}
