package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
		sql: `
CREATE TABLE sharing_requests (
	id            text PRIMARY KEY,
	requester     text NOT NULL CHECK (requester <> ''),
	requested_by  text NOT NULL,
	department    text NOT NULL CHECK (department <> ''),
	codes         text[] NOT NULL,
	purpose       text NOT NULL CHECK (purpose <> ''),
	justification text NOT NULL,
	status        text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
	created_at    timestamptz NOT NULL,
	deadline      timestamptz NOT NULL,
	decided_at    timestamptz,
	decided_by    text NOT NULL DEFAULT '',
	reason        text NOT NULL DEFAULT '',
	valid_until   timestamptz,
	grant_id      text NOT NULL DEFAULT ''
);
CREATE INDEX sharing_requests_requester ON sharing_requests (requester, created_at);
CREATE INDEX sharing_requests_department ON sharing_requests (department, created_at);

CREATE TABLE grants (
	id          text PRIMARY KEY,
	consumer    text NOT NULL,
	purpose     text NOT NULL,
	codes       text[] NOT NULL,
	department  text NOT NULL,
	request_id  text REFERENCES sharing_requests (id),
	granted_by  text NOT NULL,
	created_at  timestamptz NOT NULL,
	valid_until timestamptz,
	revoked_at  timestamptz,
	revoked_by  text NOT NULL DEFAULT ''
);

CREATE TABLE audit_events (
	seq        bigint PRIMARY KEY,
	at         timestamptz NOT NULL,
	consumer   text NOT NULL,
	end_user   text NOT NULL,
	purpose    text NOT NULL,
	request_id text NOT NULL,
	code       text NOT NULL,
	owner      text NOT NULL,
	subject    text NOT NULL,
	decision   text NOT NULL,
	grant_id   text NOT NULL,
	prev_hash  text NOT NULL,
	hash       text NOT NULL
);
CREATE INDEX audit_events_owner ON audit_events (owner, seq);
CREATE INDEX audit_events_owner_code ON audit_events (owner, code, seq);
CREATE INDEX audit_events_owner_subject ON audit_events (owner, subject, seq);

-- The chain head: AppendAudit locks this row, so appends from every replica queue up.
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
`,
	}}
}

// migrate applies the migrations the schema has not applied yet, each in its own
// transaction, while holding a session advisory lock for the schema, so that replicas
// starting together apply each step once. It returns how many it applied.
func (s *Store) migrate(ctx context.Context) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	const key = `hashtextextended('pudong-gateway-migrations:' || current_schema(), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			// The lock dies with the session; make sure the session dies.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	all := migrations()
	var newest int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	if known := all[len(all)-1].version; newest > known {
		return 0, fmt.Errorf("migrate: database schema version %d is newer than this gateway knows (%d): run a newer gateway", newest, known)
	}
	applied := 0
	for _, m := range all {
		done, err := applyMigration(ctx, conn, m)
		if err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

func applyMigration(ctx context.Context, conn *pgxpool.Conn, m migration) (applied bool, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return err
		}
		applied = true
		return nil
	})
	return applied, err
}
