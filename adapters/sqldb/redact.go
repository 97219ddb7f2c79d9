package sqldb

import "strings"

// redact cuts every run of 11 or more ASCII letters and digits that holds at least 6
// digits (ID numbers, credit codes, phone numbers, as they may appear in a driver's or
// the mapping's message, but not words) to its first 6 and last 4 characters, so that
// an error message can be logged without leaking a subject.
func redact(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if tok := s[start:end]; digits(tok) >= 6 {
			b.WriteString(cut(tok))
		} else {
			b.WriteString(tok)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		if isAlnum(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
		b.WriteByte(s[i])
	}
	flush(len(s))
	return b.String()
}

// cut shortens a key-like token of 11 characters or more to its first 6 and last 4.
func cut(k string) string {
	if len(k) < 11 {
		return k
	}
	return k[:6] + "…" + k[len(k)-4:]
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}
