package csvdrop

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// An export's index is an SQLite database file in the index directory, built once per
// version of the export and kept, so that a restart serves the export at once instead of
// reading it again, and memory does not grow with the export: a district's 15 million
// rows live on disk, and the process holds SQLite's page cache. SQLite (the pure-Go
// modernc build the store and the credit simulator already use) rather than a file
// format of our own: it is well kept, its B-tree indexes answer a key and a page of a key
// in a few page reads, and a half-written file is recognisable by its name alone because
// it is built under a temporary name and renamed when whole (docs/PERFORMANCE.md,
// "District scale").
//
// One table: a row per export row, in file order (rowid), a column k<i> per operation's
// key (NULL when the row has none) and v<j> per unified field; an index per key column.

// indexVersion changes whenever the table's shape does, so an index built by an older
// gateway is rebuilt rather than misread.
const indexVersion = "1"

// export is one indexed export being served. It never changes once built, so any number
// of readers may use it while the next one is being built.
type export struct {
	id       fileID
	rows     int
	loadedAt time.Time
	path     string // the index file
	origin   string // "built" now or "kept" from before, for the log

	db    *sql.DB
	fetch map[string]*sql.Stmt // operation → rows of a key, in file order
	count map[string]*sql.Stmt // operation → how many rows a key has
	page  map[string]*sql.Stmt // operation → a page of a key's rows

	// mu lets retire wait for lookups in progress; closed (guarded by mu) tells a
	// lookup that read the pointer just before a swap to read it again.
	mu     sync.RWMutex
	closed bool
}

// indexName names id's index: the export's name and version, and a digest of what the
// binding maps, so a changed field map or code table is never served from an old index.
func (l *layout) indexName(id fileID) string {
	return fmt.Sprintf("%s.%d-%d-%d-%d.%s.db", id.name, id.size, id.modTime.UnixNano(), id.markerSize,
		id.markerMTime.UnixNano(), l.tag)
}

// layoutTag digests everything that decides an index's content: the field map (with
// its formats), the code tables and the key columns.
func layoutTag(l *layout, fm []config.FieldMap, codes map[string]map[string]string) string {
	b, _ := json.Marshal(struct {
		V     string
		Map   []config.FieldMap
		Keys  []keyColumn
		Codes map[string]map[string]string
	}{indexVersion, fm, l.keys, codes})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// build reads an export from r into a new index file under a temporary name in dir and
// returns that name and the number of rows; the caller renames it into place once the
// export has passed every check, or removes it.
func (l *layout) build(ctx context.Context, dir string, id fileID, r io.Reader) (tmp string, rows int, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("index directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+id.name+".*.tmp")
	if err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	tmp = f.Name()
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	// The file is thrown away if anything fails, so it needs no journal and no syncs
	// until it is whole (the caller syncs it before the rename).
	db, err := sql.Open("sqlite", "file:"+tmp+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-8192)")
	if err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	cols := make([]string, 0, len(l.keys)+len(l.fields))
	for i := range l.keys {
		cols = append(cols, "k"+strconv.Itoa(i)+" TEXT")
	}
	for i := range l.fields {
		cols = append(cols, "v"+strconv.Itoa(i)+" TEXT NOT NULL")
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE rows ("+strings.Join(cols, ", ")+")"); err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, "INSERT INTO rows VALUES ("+strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",")+")")
	if err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	args := make([]any, len(cols))
	rows, err = l.parse(ctx, r, func(keys, values []string) error {
		for i, k := range keys {
			args[i] = nil // a row without this key is not found under ""
			if k != "" {
				args[i] = k
			}
		}
		for i, v := range values {
			args[len(keys)+i] = v
		}
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	if err := tx.Commit(); err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	for i := range l.keys {
		k := "k" + strconv.Itoa(i)
		if _, err := db.ExecContext(ctx, "CREATE INDEX rows_"+k+" ON rows ("+k+")"); err != nil {
			return "", 0, fmt.Errorf("index: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE meta (rows INTEGER NOT NULL); INSERT INTO meta VALUES (?)", rows); err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	if err := db.Close(); err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return "", 0, fmt.Errorf("index: %w", err)
	}
	return tmp, rows, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// openIndex opens a whole index file for reading. A missing file is fs.ErrNotExist.
func (l *layout) openIndex(path string, id fileID) (*export, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)&_pragma=cache_size(-4096)")
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", filepath.Base(path), err)
	}
	// A few connections serve concurrent lookups; each holds its own page cache, so
	// their number bounds the memory the index costs.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	e := &export{id: id, path: path, db: db, fetch: map[string]*sql.Stmt{}, count: map[string]*sql.Stmt{}, page: map[string]*sql.Stmt{}}
	fail := func(err error) (*export, error) {
		db.Close()
		return nil, fmt.Errorf("index %s: %w", filepath.Base(path), err)
	}
	if err := db.QueryRow("SELECT rows FROM meta").Scan(&e.rows); err != nil {
		return fail(err)
	}
	vals := make([]string, len(l.fields))
	for i := range l.fields {
		vals[i] = "v" + strconv.Itoa(i)
	}
	cols := strings.Join(vals, ", ")
	for i, k := range l.keys {
		kc := "k" + strconv.Itoa(i)
		for _, q := range []struct {
			into map[string]*sql.Stmt
			sql  string
		}{
			{e.fetch, "SELECT " + cols + " FROM rows WHERE " + kc + " = ? ORDER BY rowid"},
			{e.count, "SELECT count(*) FROM rows WHERE " + kc + " = ?"},
			{e.page, "SELECT " + cols + " FROM rows WHERE " + kc + " = ? ORDER BY rowid LIMIT ? OFFSET ?"},
		} {
			st, err := db.Prepare(q.sql)
			if err != nil {
				return fail(err)
			}
			q.into[k.Op] = st
		}
	}
	return e, nil
}

// records runs a query that selects the unified values and builds a fresh record per
// row, so no caller can change what another sees.
func records(ctx context.Context, st *sql.Stmt, fields []string, args ...any) ([]adapters.Record, error) {
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	vals := make([]string, len(fields))
	dest := make([]any, len(fields))
	for i := range vals {
		dest[i] = &vals[i]
	}
	var out []adapters.Record
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		rec := make(adapters.Record, len(fields))
		for i, v := range vals {
			if v != "" {
				rec[fields[i]] = v
			}
		}
		out = append(out, rec)
	}
	return out, rs.Err()
}

// close waits for the lookups using e to end and closes its index.
func (e *export) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		e.db.Close()
	}
}

// retire closes an export that is no longer current once the lookups still using it
// are done, and removes the index files of exports older than keep's (an export whose
// name sorts before it: no replica will serve those again).
func (e *export) retire(dir string, keep *export) {
	e.close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range entries {
		name := de.Name()
		older := name < keep.id.name || strings.HasPrefix(name, keep.id.name+".") // older, or another version of it
		if strings.HasSuffix(name, ".db") && !strings.HasPrefix(name, ".") && older && filepath.Join(dir, name) != keep.path {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return
			}
		}
	}
}
