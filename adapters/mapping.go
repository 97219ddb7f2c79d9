package adapters

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"pudong.gov.cn/gateway/config"
)

// Mapping turns legacy records (legacy field name → raw string) into unified Records,
// following a department's field map and code tables.
type Mapping struct {
	fields []config.FieldMap
	codes  map[string]map[string]string
	scales map[string]*big.Rat
}

// NewMapping checks a department's field map against its code tables and returns the
// mapping. Every mistake is reported, not only the first.
func NewMapping(fields []config.FieldMap, codes map[string]map[string]string) (*Mapping, error) {
	m := &Mapping{fields: fields, codes: codes, scales: map[string]*big.Rat{}}
	var errs []string
	seen := map[string]bool{}
	for i, f := range fields {
		if f.From == "" || f.To == "" {
			errs = append(errs, fmt.Sprintf("fields[%d]: both from and to are required", i))
			continue
		}
		if seen[f.To] {
			errs = append(errs, fmt.Sprintf("fields[%d]: %q is mapped twice", i, f.To))
		}
		seen[f.To] = true
		n := 0
		for _, s := range []string{f.Code, f.Date, f.Month, f.Scale} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			errs = append(errs, fmt.Sprintf("fields[%d] (%s): at most one of code, date, month, scale", i, f.From))
		}
		if f.Code != "" && codes[f.Code] == nil {
			errs = append(errs, fmt.Sprintf("fields[%d] (%s): code table %q is not defined", i, f.From, f.Code))
		}
		if f.Scale != "" {
			r, ok := new(big.Rat).SetString(f.Scale)
			if !ok {
				errs = append(errs, fmt.Sprintf("fields[%d] (%s): scale %q is not a number", i, f.From, f.Scale))
			}
			m.scales[f.From] = r
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("field mapping: %s", strings.Join(errs, "; "))
	}
	return m, nil
}

// Legacy lists the legacy field names the mapping reads, in map order: what an SQL
// adapter selects or a CSV adapter expects in the header.
func (m *Mapping) Legacy() []string {
	out := make([]string, len(m.fields))
	for i, f := range m.fields {
		out[i] = f.From
	}
	return out
}

// LegacyName returns the legacy field that maps to unified field to, or "".
func (m *Mapping) LegacyName(to string) string {
	for _, f := range m.fields {
		if f.To == to {
			return f.From
		}
	}
	return ""
}

// Apply maps one legacy record. A value that a code table does not know, or a date that
// does not parse, is an ErrBadResponse naming the field: the department sent something
// the binding does not describe. Empty values stay empty.
func (m *Mapping) Apply(raw map[string]string) (Record, error) {
	rec := make(Record, len(m.fields))
	for _, f := range m.fields {
		v := strings.TrimSpace(raw[f.From])
		if v == "" {
			continue
		}
		switch {
		case f.Code != "":
			u, ok := m.codes[f.Code][v]
			if !ok {
				if u, ok = m.codes[f.Code]["*"]; !ok {
					return nil, fmt.Errorf("%w: %s: code %q is not in table %q", ErrBadResponse, f.From, redact(v), f.Code)
				}
			}
			v = u
		case f.Date != "":
			t, err := time.Parse(f.Date, v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %q is not a date in layout %q", ErrBadResponse, f.From, redact(v), f.Date)
			}
			v = t.Format(time.DateOnly)
		case f.Month != "":
			t, err := time.Parse(f.Month, v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %q is not a month in layout %q", ErrBadResponse, f.From, redact(v), f.Month)
			}
			v = t.Format("2006-01")
		case f.Scale != "":
			r, ok := new(big.Rat).SetString(v)
			if !ok || !plainDecimal(v) {
				return nil, fmt.Errorf("%w: %s: %q is not a decimal number", ErrBadResponse, f.From, redact(v))
			}
			v = r.Mul(r, m.scales[f.From]).FloatString(2)
		}
		rec[f.To] = v
	}
	return rec, nil
}

// redact cuts a value quoted in an error to its first 6 and last 4 characters, so an ID
// or phone number in a field the binding did not expect never lands whole in a log.
func redact(v string) string {
	r := []rune(v)
	if len(r) <= 10 {
		return v
	}
	return string(r[:6]) + "…" + string(r[len(r)-4:])
}

// plainDecimal accepts digits with an optional sign and fraction, and nothing a
// department could use to make one conversion expensive (exponents, fractions like 1/3).
func plainDecimal(v string) bool {
	if len(v) > 40 {
		return false
	}
	digits, dot := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case c == '-' && i == 0:
		default:
			return false
		}
	}
	return digits > 0
}
