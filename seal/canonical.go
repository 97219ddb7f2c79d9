package seal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonical returns the canonical form of a JSON document, as docs/sealed-answers.md
// defines it: the JSON Canonicalization Scheme of RFC 8785 (object members sorted by
// their names' UTF-16 code units, no insignificant whitespace, numbers as ECMAScript
// prints them, strings with only the escapes JSON requires). Two documents that mean the
// same JSON value have the same canonical form, so a saved answer re-indented by an
// editor or a tool still verifies, and any change of a value does not.
func Canonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("seal: not a JSON document: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("seal: more than one JSON value in the document")
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("seal: number %s is outside what JSON canonicalization can represent", x)
		}
		if f == 0 {
			f = 0 // RFC 8785 prints minus zero as 0
		}
		// encoding/json prints a float64 as ECMAScript's Number.prototype.toString does,
		// which is what RFC 8785 prescribes.
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("seal: number %s: %w", x, err)
		}
		buf.Write(b)
	case string:
		writeString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("seal: unexpected JSON value %T", v)
	}
	return nil
}

// writeString escapes only what RFC 8785 escapes: the quote, the backslash and the
// control characters (with the short forms where JSON has them).
func writeString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(buf, `\u%04x`, r)
		default:
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}

// compareUTF16 orders member names by their UTF-16 code units, as RFC 8785 sorts them.
func compareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}
