package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decode reads one upstream answer: the records, keeping only the fields the mapping or a
// key field reads, each as a string, and the total. It also returns each record's
// keyField value. Errors never quote upstream values: they may be personal data.
func (s *Source) decode(op *operation, body []byte) (answer, []string, error) {
	var a answer
	// Records are decoded straight into maps of raw values: one pass over each byte,
	// rather than one per level of nesting.
	var list []map[string]json.RawMessage
	if op.bodyIsList {
		if err := json.Unmarshal(body, &list); err != nil {
			return a, nil, fmt.Errorf("the answer is not a JSON array of objects: %w", err)
		}
	} else if op.records == nil && op.total == nil {
		list = make([]map[string]json.RawMessage, 1)
		if err := json.Unmarshal(body, &list[0]); err != nil {
			return a, nil, fmt.Errorf("the answer is not a JSON object: %w", err)
		}
	} else {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			return a, nil, fmt.Errorf("the answer is not a JSON object: %w", err)
		}
		if op.records == nil {
			list = []map[string]json.RawMessage{top}
		} else {
			raw, err := lookup(top, op.records)
			if err != nil {
				return a, nil, err
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return a, nil, fmt.Errorf("%s is not an array of objects: %w", strings.Join(op.records, "."), err)
			}
		}
		if op.total != nil {
			raw, err := lookup(top, op.total)
			if err != nil {
				return a, nil, err
			}
			if a.total, err = count(raw); err != nil {
				return a, nil, fmt.Errorf("%s: %w", strings.Join(op.total, "."), err)
			}
		}
	}
	if op.total == nil {
		a.total = len(list)
	}
	a.records = make([]map[string]string, len(list))
	var keyOf []string
	if op.keyField != "" {
		keyOf = make([]string, len(list))
	}
	for i, fields := range list {
		rec, err := s.record(fields)
		if err != nil {
			return a, nil, fmt.Errorf("record %d: %w", i, err)
		}
		a.records[i] = rec
		if keyOf != nil {
			keyOf[i] = rec[op.keyField]
		}
	}
	return a, keyOf, nil
}

// record keeps the fields of one record that the binding reads. Numbers and booleans
// become their JSON text, null becomes empty; an object or array in a field the binding
// reads cannot be mapped.
func (s *Source) record(fields map[string]json.RawMessage) (map[string]string, error) {
	if fields == nil {
		return nil, errors.New("null where a record object was expected")
	}
	out := make(map[string]string, len(s.wanted))
	return out, s.collect(fields, "", out, 0)
}

// maxNesting bounds how deep a dotted field path may reach into an answer.
const maxNesting = 8

// collect puts the wanted fields of one JSON object into out under their dotted names,
// descending into the nested objects a dotted field (from: basic.name) reaches into.
// A nested object that is null or absent leaves its fields absent, as a null field is.
func (s *Source) collect(fields map[string]json.RawMessage, prefix string, out map[string]string, depth int) error {
	for k, v := range fields {
		name := prefix + k
		switch {
		case s.wanted[name]:
			str, err := scalar(v)
			if err != nil {
				return fmt.Errorf("field %s: %w", name, err)
			}
			out[name] = str
		case s.nested[name] && depth < maxNesting:
			if isNull(v) {
				continue
			}
			var inner map[string]json.RawMessage
			if err := json.Unmarshal(v, &inner); err != nil {
				return fmt.Errorf("field %s: not an object, but the binding reads fields inside it", name)
			}
			if err := s.collect(inner, name+".", out, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// scalar renders one JSON value as the string the mapping expects.
func scalar(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("empty value")
	}
	switch c := v[0]; {
	case c == '"':
		if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			return string(v[1 : len(v)-1]), nil // validated already, and nothing to unescape
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("bad string: %w", err)
		}
		return s, nil
	case c == 'n':
		return "", nil
	case c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
		// Already validated by the enclosing Unmarshal; the JSON text is the value, so
		// "500.0000" and 1e3 reach the mapping exactly as the department wrote them.
		return string(v), nil
	default:
		return "", errors.New("a nested object or array where the binding expects a value")
	}
}

// lookup follows a dotted path through nested objects.
func lookup(top map[string]json.RawMessage, path []string) (json.RawMessage, error) {
	m := top
	for i, seg := range path {
		v, ok := m[seg]
		if !ok {
			return nil, fmt.Errorf("the answer has no field %s", strings.Join(path[:i+1], "."))
		}
		if i == len(path)-1 {
			return v, nil
		}
		m = nil
		if err := json.Unmarshal(v, &m); err != nil || m == nil {
			return nil, fmt.Errorf("%s is not an object", strings.Join(path[:i+1], "."))
		}
	}
	return nil, errors.New("empty field path")
}

// count reads a total: a whole JSON number or a numeric string.
func count(v json.RawMessage) (int, error) {
	v = bytes.TrimSpace(v)
	s := string(v)
	if len(v) > 0 && v[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, fmt.Errorf("bad string: %w", err)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("not a whole number from 0")
	}
	return n, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }
