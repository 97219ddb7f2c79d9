package sqldb

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// decoder turns rows of any column types into legacy records (column name → string).
type decoder struct {
	names  []string
	date   []bool // the column is a DATE: a time.Time prints without its clock
	keyIdx int
	vals   []any
	dest   []any // pointers into vals, for Scan
}

// newDecoder reads the result's columns; the key column must be among them.
func newDecoder(rows *sql.Rows, keyColumn string) (*decoder, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("reading result columns: %w", err)
	}
	names := make([]string, len(types))
	dbTypes := make([]string, len(types))
	for i, t := range types {
		names[i], dbTypes[i] = t.Name(), t.DatabaseTypeName()
	}
	return columnsDecoder(names, dbTypes, keyColumn)
}

// columnsDecoder builds a decoder for columns named names, of database types dbTypes.
func columnsDecoder(names, dbTypes []string, keyColumn string) (*decoder, error) {
	d := &decoder{
		names:  names,
		date:   make([]bool, len(names)),
		keyIdx: -1,
		vals:   make([]any, len(names)),
		dest:   make([]any, len(names)),
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("result column %q appears twice", n)
		}
		seen[n] = true
		if n == keyColumn {
			d.keyIdx = i
		}
		d.date[i] = strings.EqualFold(dbTypes[i], "DATE")
		d.dest[i] = &d.vals[i]
	}
	if d.keyIdx < 0 {
		return nil, fmt.Errorf("key column %q is not in the result (columns: %s)", keyColumn, strings.Join(names, ", "))
	}
	return d, nil
}

// decode renders the scanned row: its key and its legacy record.
func (d *decoder) decode() (string, map[string]string) {
	raw := make(map[string]string, len(d.names))
	for i, n := range d.names {
		raw[n] = text(d.vals[i], d.date[i])
	}
	return raw[d.names[d.keyIdx]], raw
}

// text renders one column value as the package doc describes.
func text(v any, date bool) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case time.Time:
		if date {
			return v.Format(time.DateOnly)
		}
		return v.Format("2006-01-02 15:04:05.999999999")
	default:
		return fmt.Sprint(v)
	}
}
