// Package sqldb is the read-only SQL adapter: it reads a department's relational database
// directly, with the queries its binding declares. Nothing in it knows any department; a
// binding (config.Department with protocol "sql") supplies the driver, the DSN, one query
// template per operation and the field mapping.
//
// # Operation params
//
//   - query: the SELECT to run. Every occurrence of {keys} becomes one bound placeholder
//     per key ("?, ?, ?"), and the keys are bound again for each occurrence; key values
//     are never spliced into SQL text. The result's column names (use AS) are the legacy
//     field names the binding's field map reads.
//   - keyColumn: the result column that carries the key a row belongs to.
//
// # Read-only
//
// SQLite databases are opened with mode=ro (a missing file is an error, not a new empty
// database) and query_only. MySQL sessions are set to SET SESSION TRANSACTION READ ONLY
// as each connection opens. The account in the DSN should hold SELECT grants only; the
// session setting is the second line of defence, not the first.
//
// # Values
//
// Columns of any type are read as strings: NULL is empty, numbers print in plain decimal
// (no exponent), and time.Time (SQLite DATE/DATETIME columns, MySQL with parseTime=true)
// prints as MySQL's text protocol prints it: "2006-01-02" for a DATE column, otherwise
// "2006-01-02 15:04:05" with fractional seconds when there are any. A binding's date
// layouts therefore do not depend on the driver. MySQL connections are opened with
// parseTime off, so the server's own text reaches the mapping unchanged.
package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// Names of the params an operation reads, and the placeholder its query expands.
const (
	ParamQuery     = "query"
	ParamKeyColumn = "keyColumn"
	KeysToken      = "{keys}"
)

// Source reads one department's database. It is safe for concurrent use; the gateway
// bounds how many Fetch calls run at once, and the connection pool is sized to match.
type Source struct {
	id      string
	db      *sql.DB
	ops     map[string]*operation
	mapping *adapters.Mapping
	queries atomic.Int64
}

// operation is one validated operation of the binding.
type operation struct {
	name      string
	parts     []string // the query split at each {keys}
	keyColumn string
}

var _ adapters.Source = (*Source)(nil)

// Open validates d and opens its database read-only. It does not connect: a department
// that is down when the gateway starts turns into ErrUnavailable on the first Fetch, not
// a gateway that will not start. Every problem in d is reported at once.
func Open(d config.Department) (*Source, error) {
	var problems []string
	if d.Protocol != "" && d.Protocol != config.ProtocolSQL {
		problems = append(problems, fmt.Sprintf("protocol is %q, want sql", d.Protocol))
	}
	if !supported(d.Driver) {
		problems = append(problems, fmt.Sprintf("driver %q is not supported (use %s)", d.Driver, supportedDrivers))
	}
	if d.DSN == "" {
		problems = append(problems, "dsn is required")
	}
	if d.Timeout < 0 {
		problems = append(problems, "timeout must not be negative")
	}
	if d.Concurrency < 0 {
		problems = append(problems, "concurrency must not be negative")
	}
	if len(d.Operations) == 0 {
		problems = append(problems, "no operations are defined")
	}
	ops := make(map[string]*operation, len(d.Operations))
	for _, name := range slices.Sorted(maps.Keys(d.Operations)) {
		op, errs := newOperation(name, d.Operations[name])
		problems = append(problems, errs...)
		ops[name] = op
	}
	mapping, err := adapters.NewMapping(d.Fields, d.Codes)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sqldb: department %s: %s", d.ID, strings.Join(problems, "; "))
	}

	db, err := openDB(d.Driver, d.DSN)
	if err != nil {
		// Driver DSN errors may quote the DSN, password included: say only what failed.
		return nil, fmt.Errorf("sqldb: department %s: dsn is not a valid %s data source name", d.ID, d.Driver)
	}
	conc := cmp.Or(d.Concurrency, config.DefaultConcurrency)
	db.SetMaxOpenConns(conc)
	db.SetMaxIdleConns(conc)
	// Recycle connections well inside MySQL's default wait_timeout, and so that a rebuilt
	// SQLite file is picked up.
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Source{
		id:      d.ID,
		db:      db,
		ops:     ops,
		mapping: mapping,
	}, nil
}

func newOperation(name string, o config.Operation) (*operation, []string) {
	var problems []string
	where := "operation " + name
	if o.Batch < 0 {
		problems = append(problems, where+": batch must not be negative")
	}
	for _, k := range slices.Sorted(maps.Keys(o.Params)) {
		if k != ParamQuery && k != ParamKeyColumn {
			problems = append(problems, fmt.Sprintf("%s: unknown param %q (want %s, %s)", where, k, ParamQuery, ParamKeyColumn))
		}
	}
	query := strings.TrimSpace(o.Params[ParamQuery])
	switch {
	case query == "":
		problems = append(problems, where+": param "+ParamQuery+" is required")
	case !strings.Contains(query, KeysToken):
		problems = append(problems, where+": param "+ParamQuery+" has no "+KeysToken)
	}
	keyColumn := strings.TrimSpace(o.Params[ParamKeyColumn])
	if keyColumn == "" {
		problems = append(problems, where+": param "+ParamKeyColumn+" is required")
	}
	return &operation{name: name, parts: strings.Split(query, KeysToken), keyColumn: keyColumn}, problems
}

// expand returns the operation's SQL for n keys and the args that bind keys to it.
func (o *operation) expand(keys []string) (string, []any) {
	n := len(keys)
	holes := len(o.parts) - 1
	var b strings.Builder
	size := holes * (2*n - 1)
	for _, p := range o.parts {
		size += len(p)
	}
	b.Grow(size)
	args := make([]any, 0, holes*n)
	for i, p := range o.parts {
		b.WriteString(p)
		if i == holes {
			break
		}
		for j, k := range keys {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, k)
		}
	}
	return b.String(), args
}

// Close closes the connection pool.
func (s *Source) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqldb: department %s: close: %w", s.id, err)
	}
	return nil
}

// Queries is how many statements Fetch has sent to the database, so that tests and
// metrics can tell one batched statement from one per key.
func (s *Source) Queries() int64 { return s.queries.Load() }

// Fetch runs operation op for keys in one statement and groups the mapped rows by the
// operation's key column. A row whose key differs from the one asked for only in case or
// surrounding blanks (a case-insensitive collation, a CHAR column) is filed under the key
// asked for.
func (s *Source) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	o, ok := s.ops[op]
	if !ok {
		return nil, fmt.Errorf("sqldb: department %s: unknown operation %q", s.id, op)
	}
	keys, wanted := dedupe(keys)
	out := make(map[string][]adapters.Record, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	query, args := o.expand(keys)

	// The deadline is the caller's: resilience bounds every call (package adapters).
	s.queries.Add(1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(adapters.ErrUnavailable, o, err)
	}
	defer rows.Close()

	dec, err := newDecoder(rows, o.keyColumn)
	if err != nil {
		return nil, s.fail(adapters.ErrBadResponse, o, err)
	}
	for rows.Next() {
		if err := rows.Scan(dec.dest...); err != nil {
			return nil, s.fail(adapters.ErrBadResponse, o, err)
		}
		rowKey, raw := dec.decode()
		key, ok := wanted[normalizeKey(rowKey)]
		if !ok {
			return nil, s.fail(adapters.ErrBadResponse, o,
				fmt.Errorf("row keyed %q by %s matches no key asked for", cut(rowKey), o.keyColumn))
		}
		rec, err := s.mapping.Apply(raw)
		if err != nil {
			return nil, s.fail(adapters.ErrBadResponse, o, err)
		}
		out[key] = append(out[key], rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(adapters.ErrUnavailable, o, err)
	}
	return out, nil
}

// dedupe drops repeated keys, keeping order, and indexes the keys by normalizeKey.
func dedupe(keys []string) ([]string, map[string]string) {
	wanted := make(map[string]string, len(keys))
	uniq := keys[:0:0]
	for _, k := range keys {
		n := normalizeKey(k)
		if _, dup := wanted[n]; dup {
			continue
		}
		wanted[n] = k
		uniq = append(uniq, k)
	}
	return uniq, wanted
}

func normalizeKey(k string) string { return strings.ToUpper(strings.TrimSpace(k)) }

// fail wraps err as kind, naming the department and operation, with anything that looks
// like an ID number, credit code or phone number cut so that it cannot reach a log.
func (s *Source) fail(kind error, o *operation, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		kind = adapters.ErrUnavailable
	}
	return &fetchError{
		kind:  kind,
		cause: err,
		msg:   fmt.Sprintf("%v: sqldb: department %s, operation %s: %s", kind, s.id, o.name, redact(err.Error())),
	}
}

// fetchError keeps its cause for errors.Is (context.DeadlineExceeded, driver errors)
// while its message carries the redacted text only.
type fetchError struct {
	kind, cause error
	msg         string
}

func (e *fetchError) Error() string   { return e.msg }
func (e *fetchError) Unwrap() []error { return []error{e.kind, e.cause} }
