package sqlstore

import "strings"

// Rewrite writes the ? parameters of query as placeholder writes the n-th (from 1), so
// that a statement is written once, with ?, for every database: the store's, and those
// of the tables the gateway keeps beside it (internal/ownsql).
func Rewrite(query string, placeholder func(n int) string) string {
	if placeholder(1) == "?" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString(placeholder(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
