package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one step of the schema's history. Steps are appended, never edited: a
// database records the versions it has applied and runs each step once.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() []migration {
	return []migration{{
		version: 1,
		name:    "requests, grants and the audit chain",
		// Times are Unix microseconds (UTC); codes are JSON arrays of catalogue codes.
		sql: `
CREATE TABLE sharing_requests (
	id            TEXT PRIMARY KEY,
	requester     TEXT NOT NULL CHECK (requester <> ''),
	requested_by  TEXT NOT NULL,
	department    TEXT NOT NULL CHECK (department <> ''),
	codes         TEXT NOT NULL,
	purpose       TEXT NOT NULL CHECK (purpose <> ''),
	justification TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
	created_at    INTEGER NOT NULL,
	deadline      INTEGER NOT NULL,
	decided_at    INTEGER,
	decided_by    TEXT NOT NULL DEFAULT '',
	reason        TEXT NOT NULL DEFAULT '',
	valid_until   INTEGER,
	grant_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sharing_requests_requester ON sharing_requests (requester, created_at);
CREATE INDEX sharing_requests_department ON sharing_requests (department, created_at);

CREATE TABLE grants (
	id          TEXT PRIMARY KEY,
	consumer    TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	codes       TEXT NOT NULL,
	department  TEXT NOT NULL,
	request_id  TEXT REFERENCES sharing_requests (id),
	granted_by  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	valid_until INTEGER,
	revoked_at  INTEGER,
	revoked_by  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,
	consumer   TEXT NOT NULL,
	end_user   TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	request_id TEXT NOT NULL,
	code       TEXT NOT NULL,
	owner      TEXT NOT NULL,
	subject    TEXT NOT NULL,
	decision   TEXT NOT NULL,
	grant_id   TEXT NOT NULL,
	prev_hash  TEXT NOT NULL,
	hash       TEXT NOT NULL
);
CREATE INDEX audit_events_owner ON audit_events (owner, seq);
CREATE INDEX audit_events_owner_code ON audit_events (owner, code, seq);
CREATE INDEX audit_events_owner_subject ON audit_events (owner, subject, seq);

-- Bumped by every transaction that changes requests or grants, so that a Store on the
-- same file in another process notices within its poll interval.
CREATE TABLE change_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO change_version (id, version) VALUES (1, 0);
`,
	}, {
		version: 2,
		name:    "no subject index on the audit trail",
		// Subjects are random keys: their index made every append rewrite one index page
		// per event, most of an audited response's cost. Owners look events up by subject
		// rarely; that scan of the owner's events is the price.
		sql: `DROP INDEX IF EXISTS audit_events_owner_subject;`,
	}, {
		version: 3,
		name:    "no code index on the audit trail",
		// Each audited response touched one page of this index per catalogue code it
		// decided on. Without it an audited request costs a quarter less; an owner's events
		// of one code are found by scanning the owner's events in order, which a page of
		// results stops early. The PostgreSQL store, for larger deployments, keeps both.
		sql: `DROP INDEX IF EXISTS audit_events_owner_code;`,
	}}
}

// migrate applies the migrations db has not applied yet, each in its own IMMEDIATE
// transaction, which also keeps two processes opening a new file at once from both
// applying a step. It returns how many it applied.
func migrate(ctx context.Context, db *sql.DB) (int, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`)
	if err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	all := migrations()
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if known := all[len(all)-1].version; newest > known {
		return 0, fmt.Errorf("database schema version %d is newer than this gateway knows (%d): run a newer gateway", newest, known)
	}
	applied := 0
	for _, m := range all {
		done, err := applyMigration(ctx, db, m)
		if err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !applied {
			tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
