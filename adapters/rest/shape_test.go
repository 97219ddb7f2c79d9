package rest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/config"
)

// shapeSource binds a server answering body to every request, with records and the
// fields given.
func shapeSource(t *testing.T, body, records string, fields ...config.FieldMap) *Source {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	t.Cleanup(srv.Close)
	s, err := New(config.Department{ID: "x", Protocol: "rest", Endpoint: srv.URL,
		Operations: map[string]config.Operation{"get": {Batch: 10, Params: map[string]string{
			"path": "/p", "query": "ids={keys}", "records": records, "keyField": "id"}}},
		Fields: fields}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecordsAreTheBody(t *testing.T) {
	s := shapeSource(t, `[{"id":"A","n":"one"},{"id":"B","n":"two"}]`, "$", config.FieldMap{From: "id", To: "id"}, config.FieldMap{From: "n", To: "name"})
	got, err := s.Fetch(t.Context(), "get", []string{"A", "B"})
	if err != nil || got["A"][0]["name"] != "one" || got["B"][0]["name"] != "two" {
		t.Fatalf("Fetch = %v, %v", got, err)
	}
	s = shapeSource(t, `{"data":[]}`, "$", config.FieldMap{From: "id", To: "id"})
	if _, err := s.Fetch(t.Context(), "get", []string{"A"}); err == nil || !strings.Contains(err.Error(), "not a JSON array") {
		t.Fatalf("an object where the array should be: %v", err)
	}
	if _, err := New(config.Department{ID: "x", Protocol: "rest", Endpoint: "http://h",
		Operations: map[string]config.Operation{"get": {Params: map[string]string{"path": "/p/{key}", "records": "$", "total": "n"}}},
		Fields:     []config.FieldMap{{From: "id", To: "id"}}}, nil); err == nil || !strings.Contains(err.Error(), "leaves no object to hold total") {
		t.Fatalf("records $ with total: %v", err)
	}
}

func TestDottedFieldsReadNestedObjects(t *testing.T) {
	body := `{"data":[
		{"id":"A","basic":{"name":"one","deep":{"x":"1"}},"other":{"big":[1,2,3]}},
		{"id":"B","basic":null},
		{"id":"C"}]}`
	s := shapeSource(t, body, "data", config.FieldMap{From: "id", To: "id"}, config.FieldMap{From: "basic.name", To: "name"}, config.FieldMap{From: "basic.deep.x", To: "x"})
	got, err := s.Fetch(t.Context(), "get", []string{"A", "B", "C"})
	if err != nil {
		t.Fatal(err)
	}
	if a := got["A"][0]; a["name"] != "one" || a["x"] != "1" {
		t.Errorf("A = %v", a)
	}
	if b := got["B"][0]; b["name"] != "" {
		t.Errorf("B (basic null) = %v", b)
	}
	if c := got["C"][0]; c["id"] != "C" || c["name"] != "" {
		t.Errorf("C (no basic) = %v", c)
	}
	s = shapeSource(t, `{"data":[{"id":"A","basic":"flat"}]}`, "data", config.FieldMap{From: "id", To: "id"}, config.FieldMap{From: "basic.name", To: "name"})
	if _, err := s.Fetch(t.Context(), "get", []string{"A"}); err == nil || !strings.Contains(err.Error(), "basic: not an object") {
		t.Fatalf("a scalar where the binding reads inside: %v", err)
	}
}
