package gqlhttp

import "testing"

// TestNegotiate covers "Accept" and "Body" of the specification: the server MUST respect
// Accept and use the highest priority type it supports, and SHOULD answer 406 when none.
func TestNegotiate(t *testing.T) {
	const (
		js = MediaTypeJSON
		gr = MediaTypeGraphQLResponse
	)
	tests := []struct {
		name   string
		accept []string
		prefer bool
		want   string // "" means 406
	}{
		{"Legacy Watershed: no header, legacy default", nil, false, js},
		{"Legacy Watershed: no header, post-watershed default", nil, true, gr},
		{"Legacy Watershed: empty header is no header", []string{""}, false, js},
		{"Body: only application/json", []string{js}, false, js},
		{"Body: only graphql-response+json", []string{gr}, false, gr},
		{"Accept: recommended header", []string{recommended}, false, gr},
		{"Media Types: preferred type on a tie between named types", []string{js + ", " + gr}, false, gr},
		{"Body: weights decide", []string{gr + ";q=0.2, " + js + ";q=0.8"}, false, js},
		{"Body: */* is no preference", []string{"*/*"}, false, js},
		{"Body: */* is no preference (post-watershed)", []string{"*/*"}, true, gr},
		{"Body: application/* is no preference", []string{"application/*"}, false, js},
		{"Body: named beats wildcard at equal weight", []string{"*/*, " + gr}, false, gr},
		{"Body: a heavier wildcard beats a lighter named type", []string{gr + ";q=0.1, */*"}, false, js},
		{"Body: the most specific range sets the weight (q=0 refuses)", []string{"*/*, " + js + ";q=0"}, false, gr},
		{"Body: a browser's header", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false, js},
		{"Body: axios' header", []string{"application/json, text/plain, */*"}, false, js},
		{"Body: several header lines are one list", []string{"text/html", gr}, false, gr},
		{"Body: media types are case-insensitive", []string{"Application/GraphQL-Response+JSON"}, false, gr},
		{"Body: charset utf-8 matches", []string{gr + "; charset=UTF-8"}, false, gr},
		{"Body: only UTF-8 is written, other charsets do not match", []string{gr + "; charset=latin1"}, false, ""},
		{"Body: unsupported types only, 406", []string{"text/html"}, false, ""},
		{"Body: everything refused, 406", []string{js + ";q=0, " + gr + ";q=0"}, false, ""},
		{"Body: */*;q=0 refuses all, 406", []string{"*/*;q=0"}, true, ""},
		{"Body: a malformed weight ignores the range", []string{js + ";q=high"}, false, ""},
		{"Body: NaN is not a weight", []string{js + ";q=NaN"}, false, ""},
		{"Body: a malformed range is skipped", []string{"/;;, " + gr}, false, gr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := negotiate(tt.accept, tt.prefer)
			if tt.want == "" {
				if ok {
					t.Fatalf("negotiate(%q) = %q, want 406", tt.accept, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("negotiate(%q) = %q, %v; want %q", tt.accept, got, ok, tt.want)
			}
		})
	}
}
