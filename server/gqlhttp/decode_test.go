package gqlhttp

import (
	"encoding/json"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
)

// TestDecodeKeepsNumbers: variables keep json.Number, so an ID-sized integer is not rounded
// through float64 before gqlgen coerces it.
func TestDecodeKeepsNumbers(t *testing.T) {
	p, err := decodeBody([]byte(`{"query":"q","variables":{"n":9007199254740993}}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := p.Variables["n"].(json.Number); !ok || n.String() != "9007199254740993" {
		t.Fatalf("variables.n = %#v, want json.Number 9007199254740993", p.Variables["n"])
	}
}

// TestDecodePersistedQuery: query may be left out only when extensions carries an APQ hash
// ("Request Parameters" make query required; APQ is the one extension that supplies it).
func TestDecodePersistedQuery(t *testing.T) {
	const ext = `{"persistedQuery":{"version":1,"sha256Hash":"abc"}}`
	if _, err := decodeBody([]byte(`{"extensions":` + ext + `}`)); err != nil {
		t.Errorf("POST with APQ hash only: %v", err)
	}
	if _, err := decodeQueryString(q("extensions", ext)); err != nil {
		t.Errorf("GET with APQ hash only: %v", err)
	}
	if _, err := decodeBody([]byte(`{"extensions":{"other":1}}`)); err == nil || err.status() != http.StatusBadRequest {
		t.Errorf("POST without query or APQ hash: %v, want 400", err)
	}
}

// FuzzDecodeRequest: whatever a client sends as body or query string, the decoders return
// either parameters or a 4xx, never panic, and never accept what is not UTF-8 or not JSON.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []struct{ body, query string }{
		{`{"query":"{hello}"}`, "query=%7Bhello%7D"},
		{`{"query":"q","operationName":"A","variables":{"n":1},"extensions":{"persistedQuery":{"version":1}}}`, "query=q&variables=%7B%7D&extensions=null"},
		{`[{"query":"q"}]`, "variables=%5B1%5D"},
		{`{"query":1}`, "query=a&query=b"},
		{`{"variables":[7]}`, "query=%FF"},
		{"{\"query\":\"\xff\"}", "query=%zz"},
		{`{"query":"q"} trailing`, "variables=%7B%7D%7D"},
		{`null`, ";"},
		{``, ``},
	} {
		f.Add([]byte(s.body), s.query)
	}
	check := func(t *testing.T, what string, p *graphql.RawParams, err *requestError) {
		t.Helper()
		switch {
		case (p == nil) == (err == nil):
			t.Fatalf("%s: params %v and error %v: want exactly one", what, p, err)
		case err != nil && (err.status() < 400 || err.status() > 499 || err.code == "" || err.message == ""):
			t.Fatalf("%s: error %+v is not a complete 4xx", what, err)
		case p != nil && (!utf8.ValidString(p.Query) || !utf8.ValidString(p.OperationName)):
			t.Fatalf("%s: accepted parameters that are not UTF-8: %+v", what, p)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		p, err := decodeBody(body)
		check(t, "body", p, err)
		if p != nil && (!utf8.Valid(body) || !json.Valid(body)) {
			t.Fatalf("accepted a body that is not UTF-8 JSON: %q", body)
		}
		p, err = decodeQueryString(rawQuery)
		check(t, "query string", p, err)
	})
}
