package csvdrop

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// layout is what reading an export needs to know, fixed when the source is opened.
type layout struct {
	mapping *adapters.Mapping
	fields  []string    // unified field names: the columns of export.values
	columns []string    // legacy columns the header must carry
	keys    []keyColumn // one per operation, sorted by operation
}

// keyColumn says which legacy column keys an operation's index.
type keyColumn struct {
	op, column string
}

func newLayout(m *adapters.Mapping, fm []config.FieldMap, keys map[string]string) *layout {
	l := &layout{mapping: m}
	for _, f := range fm {
		l.fields = append(l.fields, f.To)
	}
	l.columns = m.Legacy()
	for _, op := range slices.Sorted(maps.Keys(keys)) {
		l.keys = append(l.keys, keyColumn{op, keys[op]})
		if !slices.Contains(l.columns, keys[op]) {
			l.columns = append(l.columns, keys[op])
		}
	}
	return l
}

// export is one fully indexed export file. It is never changed once built, so any number
// of readers may use it while the next one is being built.
type export struct {
	id       fileID
	rows     int
	values   []string                      // rows × len(layout.fields), row by row; "" when none
	index    map[string]map[string][]int32 // operation → key → rows, in file order
	loadedAt time.Time
}

// record builds the unified record of one row. Fetch hands out fresh maps, so no caller
// can change what another caller (or a later Fetch) sees.
func (e *export) record(fields []string, row int32) adapters.Record {
	vals := e.values[int(row)*len(fields):][:len(fields)]
	rec := make(adapters.Record, len(fields))
	for i, v := range vals {
		if v != "" {
			rec[fields[i]] = v
		}
	}
	return rec
}

// Why an export is rejected: the label of gateway_csv_rejected_exports_total.
const (
	ReasonMalformed  = "malformed"  // the content is wrong: header, row, encoding, code, marker
	ReasonIncomplete = "incomplete" // fewer rows or other bytes than its marker promises
	ReasonShrunk     = "shrunk"     // far fewer rows than the export it would replace
)

// Reasons lists every rejection reason, for metrics.
var Reasons = []string{ReasonMalformed, ReasonIncomplete, ReasonShrunk}

// rejection says that an export is not to be served, as opposed to reading it having
// failed: a rejected export is not tried again until it (or its marker) changes, a read
// error is retried at the next scan.
type rejection struct {
	reason string
	line   int // 1-based line of the file, 0 when the problem is not on one line
	err    error
}

func malformed(line int, err error) *rejection {
	return &rejection{reason: ReasonMalformed, line: line, err: err}
}

func (e *rejection) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %v", e.line, e.err)
	}
	return e.err.Error()
}

func (e *rejection) Unwrap() error { return e.err }

const bom = "\uFEFF"

// parse reads a whole export and indexes it. Every row is mapped to unified values here,
// once, so that a lookup is only a map access; any problem rejects the whole export,
// since serving part of a department's records would silently hide the rest. hint is the
// expected number of rows (the previous export's), to size the index up front.
func (l *layout) parse(ctx context.Context, r io.Reader, hint int) (*export, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		if _, err := br.Discard(len(bom)); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true // the header fixes the field count; every row must match it

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, malformed(0, errors.New("the export is empty"))
	}
	if err != nil {
		return nil, readError(err)
	}
	pos := make(map[string]int, len(header))
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, malformed(1, fmt.Errorf("header column %d is not valid UTF-8", i+1))
		}
		h = strings.TrimSpace(h)
		if _, dup := pos[h]; dup {
			return nil, malformed(1, fmt.Errorf("header names column %q twice", h))
		}
		pos[h] = i
	}
	var missing []string
	for _, c := range l.columns {
		if _, ok := pos[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, malformed(1, fmt.Errorf("header lacks column(s) %s", strings.Join(missing, ", ")))
	}
	keyAt := make([]int, len(l.keys))
	for i, k := range l.keys {
		keyAt[i] = pos[k.column]
	}

	hint = max(hint, 0)
	e := &export{
		values: make([]string, 0, hint*len(l.fields)),
		index:  make(map[string]map[string][]int32, len(l.keys)),
	}
	for _, k := range l.keys {
		e.index[k.op] = make(map[string][]int32, hint)
	}
	raw := make(map[string]string, len(l.columns))
	for {
		if e.rows%4096 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("read: %w", context.Cause(ctx))
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readError(err)
		}
		line, _ := cr.FieldPos(0)
		for i, v := range rec {
			if !utf8.ValidString(v) {
				return nil, malformed(line, fmt.Errorf("column %d is not valid UTF-8", i+1))
			}
		}
		if e.rows == math.MaxInt32 {
			return nil, malformed(line, errors.New("too many rows"))
		}
		for _, c := range l.columns {
			raw[c] = rec[pos[c]]
		}
		u, err := l.mapping.Apply(raw)
		if err != nil {
			return nil, malformed(line, err)
		}
		row := int32(e.rows)
		for _, f := range l.fields {
			e.values = append(e.values, u[f])
		}
		for i, k := range l.keys {
			if key := strings.TrimSpace(rec[keyAt[i]]); key != "" {
				e.index[k.op][key] = append(e.index[k.op][key], row)
			}
		}
		e.rows++
	}
	if e.rows == 0 {
		// A nightly export without rows is a failed export, not a department without
		// records: serving it would blank every lookup.
		return nil, malformed(0, errors.New("the export has a header but no rows"))
	}
	return e, nil
}

// readError tells a malformed CSV (rejected) from a failed read (retried).
func readError(err error) error {
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return malformed(pe.StartLine, pe.Err)
	}
	return fmt.Errorf("read: %w", err)
}
