package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"pudong.gov.cn/gateway/legacysim/dataset"
)

// BuildSQLite writes the credit database for ds to path as an SQLite file. The file is
// built beside path under a temporary name and renamed into place once complete, so a
// reader never opens a half-built database and a failed build leaves the previous file
// untouched. All rows go in one transaction through one prepared statement per table and
// the indexes are built after the load, which keeps millions of rows workable.
func BuildSQLite(ctx context.Context, path string, ds *dataset.Dataset) (err error) {
	if err := checkKinds(ds); err != nil {
		return fmt.Errorf("build credit database %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("build credit database: %w", err)
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		return fmt.Errorf("build credit database: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()

	// The temporary file is thrown away on any failure, so it needs neither a journal nor
	// synchronous writes; durability comes from the fsync before the rename.
	db, err := sql.Open("sqlite", tmp+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return fmt.Errorf("build credit database: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := fillSQLite(ctx, db, ds); err != nil {
		_ = db.Close()
		return fmt.Errorf("build credit database %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("build credit database %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("build credit database %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("build credit database: %w", err)
	}
	return nil
}

func fillSQLite(ctx context.Context, db *sql.DB, ds *dataset.Dataset) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	for _, t := range recordTables() {
		stmts := t.ddl("")
		if _, err := tx.ExecContext(ctx, stmts[0]); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
		ins, err := tx.PrepareContext(ctx, t.insertSQL(1))
		if err != nil {
			return fmt.Errorf("prepare insert into %s: %w", t.name, err)
		}
		for r := range t.rowsOf(ds) {
			if _, err := ins.ExecContext(ctx, t.args(r)...); err != nil {
				_ = ins.Close()
				return fmt.Errorf("insert %s into %s: %w", r.ID, t.name, err)
			}
		}
		if err := ins.Close(); err != nil {
			return err
		}
		for _, s := range stmts[1:] {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("index %s: %w", t.name, err)
			}
		}
	}
	return tx.Commit()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// mysqlBatch is how many rows one INSERT carries into MySQL: few round trips, and far
// below the server's 65,535 placeholders and default max_allowed_packet.
const mysqlBatch = 500

// LoadMySQL (re)creates the credit tables in db's current database and fills them with
// ds, mysqlBatch rows per statement in one transaction. Existing credit tables are
// dropped first: this loads a simulator, never a production database. db should use
// utf8mb4 (the go-sql-driver default); the tables are created with that character set.
func LoadMySQL(ctx context.Context, db *sql.DB, ds *dataset.Dataset) error {
	if err := checkKinds(ds); err != nil {
		return fmt.Errorf("load credit tables: %w", err)
	}
	// DDL commits implicitly in MySQL, so the tables are created before the transaction.
	for _, t := range recordTables() {
		stmts := append([]string{"DROP TABLE IF EXISTS " + t.name},
			t.ddl(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")...)
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("load credit tables: %s: %w", t.name, err)
			}
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load credit tables: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, t := range recordTables() {
		chunk := make([]dataset.CreditRecord, 0, mysqlBatch)
		insert := func() error {
			if len(chunk) == 0 {
				return nil
			}
			args := make([]any, 0, len(chunk)*len(t.insertColumns()))
			for _, r := range chunk {
				args = append(args, t.args(r)...)
			}
			if _, err := tx.ExecContext(ctx, t.insertSQL(len(chunk)), args...); err != nil {
				return fmt.Errorf("load credit tables: insert into %s: %w", t.name, err)
			}
			chunk = chunk[:0]
			return nil
		}
		for r := range t.rowsOf(ds) {
			if chunk = append(chunk, r); len(chunk) == mysqlBatch {
				if err := insert(); err != nil {
					return err
				}
			}
		}
		if err := insert(); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("load credit tables: %w", err)
	}
	return nil
}
