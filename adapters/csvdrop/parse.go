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
	tag     string      // digest of what decides an index's content, in index file names
}

// keyColumn says which legacy column keys an operation's index.
type keyColumn struct {
	Op, Column string
}

func newLayout(m *adapters.Mapping, fm []config.FieldMap, codes map[string]map[string]string, keys map[string]string) *layout {
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
	l.tag = layoutTag(l, fm, codes)
	return l
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

// rowSink receives each row of an export as it is read: its lookup keys (one per
// operation, in layout.keys order, "" when the row has none) and its unified values (in
// layout.fields order, "" when none). Both slices are reused for the next row.
type rowSink func(keys, values []string) error

// parse reads a whole export, maps every row to unified values and hands it to sink, in
// file order, and returns the number of rows. Any problem rejects the whole export,
// since serving part of a department's records would silently hide the rest. It holds
// one row at a time, whatever the size of the export.
func (l *layout) parse(ctx context.Context, r io.Reader, sink rowSink) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		if _, err := br.Discard(len(bom)); err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true // the header fixes the field count; every row must match it

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return 0, malformed(0, errors.New("the export is empty"))
	}
	if err != nil {
		return 0, readError(err)
	}
	pos := make(map[string]int, len(header))
	for i, h := range header {
		if !utf8.ValidString(h) {
			return 0, malformed(1, fmt.Errorf("header column %d is not valid UTF-8", i+1))
		}
		h = strings.TrimSpace(h)
		if _, dup := pos[h]; dup {
			return 0, malformed(1, fmt.Errorf("header names column %q twice", h))
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
		return 0, malformed(1, fmt.Errorf("header lacks column(s) %s", strings.Join(missing, ", ")))
	}
	keyAt := make([]int, len(l.keys))
	for i, k := range l.keys {
		keyAt[i] = pos[k.Column]
	}

	rows := 0
	keys := make([]string, len(l.keys))
	values := make([]string, len(l.fields))
	raw := make(map[string]string, len(l.columns))
	for {
		if rows%4096 == 0 && ctx.Err() != nil {
			return 0, fmt.Errorf("read: %w", context.Cause(ctx))
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, readError(err)
		}
		line, _ := cr.FieldPos(0)
		for i, v := range rec {
			if !utf8.ValidString(v) {
				return 0, malformed(line, fmt.Errorf("column %d is not valid UTF-8", i+1))
			}
		}
		if rows == math.MaxInt32 {
			return 0, malformed(line, errors.New("too many rows"))
		}
		for _, c := range l.columns {
			raw[c] = rec[pos[c]]
		}
		u, err := l.mapping.Apply(raw)
		if err != nil {
			return 0, malformed(line, err)
		}
		for i, f := range l.fields {
			values[i] = u[f]
		}
		for i := range l.keys {
			keys[i] = strings.TrimSpace(rec[keyAt[i]])
		}
		if err := sink(keys, values); err != nil {
			return 0, err
		}
		rows++
	}
	if rows == 0 {
		// A nightly export without rows is a failed export, not a department without
		// records: serving it would blank every lookup.
		return 0, malformed(0, errors.New("the export has a header but no rows"))
	}
	return rows, nil
}

// readError tells a malformed CSV (rejected) from a failed read (retried).
func readError(err error) error {
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return malformed(pe.StartLine, pe.Err)
	}
	return fmt.Errorf("read: %w", err)
}
