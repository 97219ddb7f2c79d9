package sqlstore

import (
	"strconv"
	"testing"
)

// A statement written with ? reads in each database's notation; where that is ? too it
// is left as it is.
func TestRewrite(t *testing.T) {
	dollar := func(n int) string { return "$" + strconv.Itoa(n) }
	question := func(int) string { return "?" }
	for _, c := range []struct {
		query, want string
		placeholder func(int) string
	}{
		{"INSERT INTO x (a, b) VALUES (?, ?)", "INSERT INTO x (a, b) VALUES ($1, $2)", dollar},
		{"SELECT 1 WHERE 名 = ?", "SELECT 1 WHERE 名 = $1", dollar},
		{"SELECT 1", "SELECT 1", dollar},
		{"SELECT ? WHERE a = ?", "SELECT ? WHERE a = ?", question},
	} {
		if got := Rewrite(c.query, c.placeholder); got != c.want {
			t.Errorf("Rewrite(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}
