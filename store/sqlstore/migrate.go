package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"pudong.gov.cn/gateway"
)

// migration is one step of the schema's history. Steps are appended, never edited: a
// database records the versions it has applied and runs each step once. sql is written
// once for every dialect, with {text}, {time}, {codes}, {int} and {blob} standing for the
// dialect's column types; only[dialect name] follows it for what one database needs
// alone, with the same stand-ins. A step that has nothing for a dialect is still recorded
// there, so every database counts the same versions.
type migration struct {
	version int
	name    string
	sql     string
	only    map[string]string
	// run, when set, follows the SQL in the same transaction, for what SQL cannot do.
	run func(ctx context.Context, tx *sql.Tx, d Dialect) error
}

// migrations is the schema's history, one function per step, in order.
func migrations() []migration {
	return []migration{
		initialSchema(),
		noSubjectIndex(),
		noCodeIndex(),
		chainPerReplica(),
		auditBlocks(),
		auditBlockSubjects(),
		auditJournal(),
	}
}

// initialSchema is the first schema: sharing requests, grants and one audit chain.
func initialSchema() migration {
	return migration{
		version: 1,
		name:    "requests, grants and the audit chain",
		sql: `
CREATE TABLE sharing_requests (
	id            {text} PRIMARY KEY,
	requester     {text} NOT NULL CHECK (requester <> ''),
	requested_by  {text} NOT NULL,
	department    {text} NOT NULL CHECK (department <> ''),
	codes         {codes} NOT NULL,
	purpose       {text} NOT NULL CHECK (purpose <> ''),
	justification {text} NOT NULL,
	status        {text} NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
	created_at    {time} NOT NULL,
	deadline      {time} NOT NULL,
	decided_at    {time},
	decided_by    {text} NOT NULL DEFAULT '',
	reason        {text} NOT NULL DEFAULT '',
	valid_until   {time},
	grant_id      {text} NOT NULL DEFAULT ''
);
CREATE INDEX sharing_requests_requester ON sharing_requests (requester, created_at);
CREATE INDEX sharing_requests_department ON sharing_requests (department, created_at);

CREATE TABLE grants (
	id          {text} PRIMARY KEY,
	consumer    {text} NOT NULL,
	purpose     {text} NOT NULL,
	codes       {codes} NOT NULL,
	department  {text} NOT NULL,
	request_id  {text} REFERENCES sharing_requests (id),
	granted_by  {text} NOT NULL,
	created_at  {time} NOT NULL,
	valid_until {time},
	revoked_at  {time},
	revoked_by  {text} NOT NULL DEFAULT ''
);

CREATE TABLE audit_events (
	seq        {int} PRIMARY KEY,
	at         {time} NOT NULL,
	consumer   {text} NOT NULL,
	end_user   {text} NOT NULL,
	purpose    {text} NOT NULL,
	request_id {text} NOT NULL,
	code       {text} NOT NULL,
	owner      {text} NOT NULL,
	subject    {text} NOT NULL,
	decision   {text} NOT NULL,
	grant_id   {text} NOT NULL,
	prev_hash  {text} NOT NULL,
	hash       {text} NOT NULL
);
CREATE INDEX audit_events_owner ON audit_events (owner, seq);
CREATE INDEX audit_events_owner_code ON audit_events (owner, code, seq);
CREATE INDEX audit_events_owner_subject ON audit_events (owner, subject, seq);
`,
		only: map[string]string{
			// Bumped by every transaction that changes requests or grants, so that a Store
			// on the same file in another process notices within its poll interval.
			"sqlite": `
CREATE TABLE change_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO change_version (id, version) VALUES (1, 0);
`,
			// The chain head, locked by every append (replaced by audit_heads in step 4).
			"postgres": `
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
`,
		},
	}
}

// noSubjectIndex drops the audit trail's subject index on SQLite.
func noSubjectIndex() migration {
	return migration{
		version: 2,
		name:    "no subject index on the audit trail",
		// Subjects are random keys: their index made every append rewrite one index page
		// per event, most of an audited response's cost on SQLite. Owners look events up
		// by subject rarely; that scan of the owner's events is the price. PostgreSQL,
		// for larger deployments, keeps it.
		only: map[string]string{"sqlite": `DROP INDEX IF EXISTS audit_events_owner_subject;`},
	}
}

// noCodeIndex drops the audit trail's code index on SQLite.
func noCodeIndex() migration {
	return migration{
		version: 3,
		name:    "no code index on the audit trail",
		// Each audited response touched one page of this index per catalogue code it
		// decided on. Without it an audited request costs a quarter less on SQLite; an
		// owner's events of one code are found by scanning the owner's events in order,
		// which a page of results stops early.
		only: map[string]string{"sqlite": `DROP INDEX IF EXISTS audit_events_owner_code;`},
	}
}

// chainPerReplica gives each replica an audit chain of its own and records client request and trace ids.
func chainPerReplica() migration {
	return migration{
		version: 4,
		name:    "one audit chain per replica; client request id and trace id",
		// Replicas appending to one chain all wait for its one head row; with a chain
		// each they do not. Events written before this step form the chain "".
		sql: `
CREATE TABLE audit_heads (
	chain {text} PRIMARY KEY,
	seq   {int} NOT NULL,
	hash  {text} NOT NULL
);
`,
		only: map[string]string{
			// SQLite cannot change a primary key in place: the table is rebuilt, keyed by
			// (chain, seq) without a separate rowid, which also saves a B-tree per event.
			"sqlite": `
CREATE TABLE audit_events_chained (
	chain             TEXT NOT NULL,
	seq               INTEGER NOT NULL,
	at                INTEGER NOT NULL,
	consumer          TEXT NOT NULL,
	end_user          TEXT NOT NULL,
	purpose           TEXT NOT NULL,
	request_id        TEXT NOT NULL,
	client_request_id TEXT NOT NULL,
	trace_id          TEXT NOT NULL,
	code              TEXT NOT NULL,
	owner             TEXT NOT NULL,
	subject           TEXT NOT NULL,
	decision          TEXT NOT NULL,
	grant_id          TEXT NOT NULL,
	prev_hash         TEXT NOT NULL,
	hash              TEXT NOT NULL,
	PRIMARY KEY (chain, seq)
) WITHOUT ROWID;
INSERT INTO audit_events_chained
	SELECT '', seq, at, consumer, end_user, purpose, request_id, '', '', code, owner, subject, decision,
		grant_id, prev_hash, hash
	FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_chained RENAME TO audit_events;
CREATE INDEX audit_events_owner ON audit_events (owner, seq, chain);
INSERT INTO audit_heads (chain, seq, hash) SELECT '', seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1;
`,
			"postgres": `
ALTER TABLE audit_events
	ADD COLUMN chain text NOT NULL DEFAULT '',
	ADD COLUMN client_request_id text NOT NULL DEFAULT '',
	ADD COLUMN trace_id text NOT NULL DEFAULT '';
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey, ADD PRIMARY KEY (chain, seq);
INSERT INTO audit_heads (chain, seq, hash) SELECT '', seq, hash FROM audit_head WHERE seq > 0;
DROP TABLE audit_head;
`,
		},
	}
}

// auditJournal records how far each audit journal has been applied.
func auditJournal() migration {
	return migration{
		version: 7,
		name:    "how far each audit journal is applied",
		// A journal in front of the audit tables (UseJournal) moves its records in
		// batches; the position past the last one applied is written in the same
		// transaction, so a restart replays exactly what the tables lack.
		sql: `
CREATE TABLE audit_journal (
	id      {text} PRIMARY KEY,
	applied {int} NOT NULL
);
`,
	}
}

// auditBlocks stores audit events in blocks, one row per append and chain.
func auditBlocks() migration {
	return migration{
		version: 5,
		name:    "audit events in blocks, one row per append and chain",
		// A row per event made the audit most of an audited answer's cost; a row per
		// append holds its events (EncodeBlock), and audit_block_owners finds an owner's
		// blocks and counts the owner's events in each. The events written before move
		// into blocks of up to blockMigrate.
		sql: `
CREATE TABLE audit_blocks (
	chain     {text} NOT NULL,
	first_seq {int} NOT NULL,
	last_seq  {int} NOT NULL,
	first_at  {time} NOT NULL,
	last_at   {time} NOT NULL,
	events    {blob} NOT NULL,
	PRIMARY KEY (chain, first_seq)
);
CREATE TABLE audit_block_owners (
	owner     {text} NOT NULL,
	chain     {text} NOT NULL,
	first_seq {int} NOT NULL,
	events    {int} NOT NULL,
	PRIMARY KEY (owner, chain, first_seq)
);
`,
		run: eventsToBlocks,
	}
}

// blockMigrate is the most events migration 5 puts in one block.
const blockMigrate = 1000

// eventsToBlocks moves the rows of audit_events into audit_blocks, a chain's consecutive
// events at a time, and drops the table. Each batch is read whole before it is written,
// because a PostgreSQL connection cannot write while it is reading.
func eventsToBlocks(ctx context.Context, tx *sql.Tx, d Dialect) error {
	p := d.Placeholder
	q := `SELECT chain, seq, at, consumer, end_user, purpose, request_id, client_request_id, trace_id,
		code, owner, subject, decision, grant_id, prev_hash, hash FROM audit_events
		WHERE chain > ` + p(1) + ` OR (chain = ` + p(2) + ` AND seq > ` + p(3) + `) ORDER BY chain, seq LIMIT ` + p(4)
	chain, seq := "", int64(0)
	for {
		var batch []gateway.AuditEvent
		err := queryEvents(ctx, tx, q, []any{chain, chain, seq, blockMigrate}, func(e gateway.AuditEvent) error {
			batch = append(batch, e)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read audit events: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for len(batch) > 0 {
			n := 1
			for n < len(batch) && batch[n].Chain == batch[0].Chain && batch[n].Seq == batch[n-1].Seq+1 {
				n++
			}
			if err := insertBlock5(ctx, tx, d, batch[:n]); err != nil {
				return err
			}
			chain, seq = batch[n-1].Chain, batch[n-1].Seq
			batch = batch[n:]
		}
	}
	_, err := tx.ExecContext(ctx, `DROP TABLE audit_events`)
	return err
}

// insertBlock5 writes a block as migration 5 did: the block and its owners' rows, whose
// columns were then (owner, chain, first_seq, events). Migration 6 lists its subjects.
func insertBlock5(ctx context.Context, tx *sql.Tx, d Dialect, events []gateway.AuditEvent) error {
	l, err := writeBlock(ctx, tx, d, nil, events)
	if err != nil {
		return err
	}
	first := events[0]
	for _, o := range l.owners {
		_, err := tx.ExecContext(ctx, rewrite(d, `INSERT INTO audit_block_owners (owner, chain, first_seq, events) VALUES (?, ?, ?, ?)`),
			o, first.Chain, first.Seq, l.count[o])
		if err != nil {
			return fmt.Errorf("list the block of events %d to %d under %s: %w", first.Seq, events[len(events)-1].Seq, o, err)
		}
	}
	return nil
}

// auditBlockSubjects lists each block under the subjects of its events, per owner.
func auditBlockSubjects() migration {
	const table = `
CREATE TABLE audit_block_subjects (
	subject   {text} NOT NULL,
	owner     {text} NOT NULL,
	chain     {text} NOT NULL,
	first_seq {int} NOT NULL,
	PRIMARY KEY (subject, owner, chain, first_seq)
)`
	return migration{
		version: 6,
		name:    "audit blocks listed by subject",
		// The citizen's data tracker asks every owner for the events about one person;
		// without a listing by subject that decoded every block of every owner, a cost
		// that grew with the whole trail. A block is listed once per (subject, owner) of
		// its events, subject first, so that the rows of one answer (one person) share a
		// page. subjects_listed marks the owner rows whose block is listed by subject: a
		// gateway of migration 5 still running beside an upgraded replica appends blocks
		// without it, and a query by subject reads those whole (audit_block_owners_unlisted
		// finds them), so no event goes missing while replicas are upgraded one by one.
		// The rows marked here are those of the blocks listSubjects lists: from the ALTER
		// on, no other transaction writes audit_block_owners until this one commits
		// (PostgreSQL's ALTER TABLE holds the table; SQLite's writer holds the database).
		sql: `
ALTER TABLE audit_block_owners ADD COLUMN subjects_listed {int};
UPDATE audit_block_owners SET subjects_listed = 1;
CREATE INDEX audit_block_owners_unlisted ON audit_block_owners (owner, chain, first_seq) WHERE subjects_listed IS NULL;
`,
		only: map[string]string{
			// Without a rowid: on SQLite one B-tree per row, not a table and its key.
			"sqlite":   table + ` WITHOUT ROWID;`,
			"postgres": table + `;`,
		},
		run: listSubjects,
	}
}

// blockBackfill is how many blocks migration 6 reads at a time.
const blockBackfill = 100

// listSubjects lists every block under the (subject, owner) pairs of its events, a batch
// of blocks at a time. Each batch is read whole before it is written, because a
// PostgreSQL connection cannot write while it is reading. It writes with qSubjects: a
// later step that changes audit_block_subjects gives this one a copy of the statement as
// it was, as insertBlock5 keeps step 5's.
func listSubjects(ctx context.Context, tx *sql.Tx, d Dialect) error {
	p := d.Placeholder
	q := `SELECT chain, first_seq, events FROM audit_blocks
		WHERE chain > ` + p(1) + ` OR (chain = ` + p(2) + ` AND first_seq > ` + p(3) + `) ORDER BY chain, first_seq LIMIT ` + p(4)
	subjects, err := tx.PrepareContext(ctx, rewrite(d, qSubjects()))
	if err != nil {
		return err
	}
	defer subjects.Close()
	insert := func(args []any) error {
		_, err := subjects.ExecContext(ctx, args...)
		return err
	}
	chain, seq := "", int64(0)
	for {
		batch, err := readListings(ctx, tx, q, []any{chain, chain, seq, blockBackfill})
		if err != nil {
			return fmt.Errorf("read audit blocks: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		for _, b := range batch {
			if err := insertSubjects(b.chain, b.first, b.subjects, insert); err != nil {
				return fmt.Errorf("list block %d of chain %q: %w", b.first, b.chain, err)
			}
		}
		chain, seq = batch[len(batch)-1].chain, batch[len(batch)-1].first
	}
}

// listedBlock is what a stored block is listed under, and where it is.
type listedBlock struct {
	chain string
	first int64
	blockListing
}

// readListings runs q, which selects (chain, first_seq, events) of blocks, and decodes
// what each block is listed under.
func readListings(ctx context.Context, tx *sql.Tx, q string, args []any) ([]listedBlock, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []listedBlock
	for rows.Next() {
		b := listedBlock{}
		var blob []byte
		if err := rows.Scan(&b.chain, &b.first, &blob); err != nil {
			return nil, err
		}
		var events []gateway.AuditEvent
		if err := DecodeBlock(b.chain, b.first, blob, func(e gateway.AuditEvent) error {
			events = append(events, e)
			return nil
		}); err != nil {
			return nil, err
		}
		if len(events) > 0 {
			b.blockListing = listBlock(events)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// queryEvents reads per-event rows of the audit_events table of migrations 1 to 4.
func queryEvents(ctx context.Context, tx *sql.Tx, q string, args []any, fn func(gateway.AuditEvent) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e gateway.AuditEvent
		var at scanTime
		var decision string
		err := rows.Scan(&e.Chain, &e.Seq, &at, &e.Consumer, &e.EndUser, &e.Purpose, &e.RequestID,
			&e.ClientRequestID, &e.TraceID, &e.Code, &e.Owner, &e.Subject, &decision, &e.GrantID, &e.PrevHash, &e.Hash)
		if err != nil {
			return err
		}
		e.At, e.Decision = at.t, gateway.Outcome(decision)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// migrate applies the migrations the database has not applied yet, each in its own
// transaction, under the dialect's migration lock, so that processes starting together
// apply each step once. It returns how many it applied.
func migrate(ctx context.Context, d Dialect, db *sql.DB, log *slog.Logger) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	unlock, err := d.LockMigrations(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer unlock()

	types := strings.NewReplacer("{text}", d.Type("text"), "{time}", d.Type("time"), "{codes}", d.Type("codes"),
		"{int}", d.Type("int"), "{blob}", d.Type("blob"))
	_, err = conn.ExecContext(ctx, types.Replace(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    {int} PRIMARY KEY,
		name       {text} NOT NULL,
		applied_at {time} NOT NULL
	)`))
	if err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	all := migrations()
	var newest int
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if known := all[len(all)-1].version; newest > known {
		return 0, fmt.Errorf("database schema version %d is newer than this gateway knows (%d): run a newer gateway", newest, known)
	}
	applied := 0
	for _, m := range all {
		start := time.Now()
		done, err := applyMigration(ctx, d, conn, m, types.Replace(m.sql+m.only[d.Name()]))
		if err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if done {
			applied++
			log.Info("schema migration applied", "version", m.version, "name", m.name, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return applied, nil
}

func applyMigration(ctx context.Context, d Dialect, conn *sql.Conn, m migration, ddl string) (applied bool, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !applied {
			tx.Rollback()
		}
	}()
	p := d.Placeholder
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = `+p(1), m.version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if strings.TrimSpace(ddl) != "" {
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return false, err
		}
	}
	if m.run != nil {
		if err := m.run(ctx, tx, d); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (`+p(1)+`, `+p(2)+`, `+p(3)+`)`,
		m.version, m.name, d.Time(time.Now())); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
