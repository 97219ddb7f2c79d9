package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/errcode"
)

// A population registry of another shape than the simulator's, bound by configuration
// alone: a REST batch lookup whose answer is a top-level JSON array (records: $), fields
// nested in objects (from: basic.name), and an enterprise registry without a list
// operation, declared so in sources (enterpriseList: none). Each of the three once made
// the binding impossible.
func TestRESTSystemOfAnotherShapeBoundByConfiguration(t *testing.T) {
	var calls atomic.Int64
	registry := batchArrayRegistry(&calls)
	defer registry.Close()
	part := decodeRESTBinding(t, registry.URL)
	g := Start(t, func(c *config.Config) {
		c.Cache.Disabled = true
		for i, d := range c.Departments {
			switch d.ID {
			case "psb":
				c.Departments[i] = part.Departments[0]
			case "amr":
				delete(c.Departments[i].Operations, "list") // this registry cannot list
			}
		}
		c.Sources.EnterpriseList = part.Sources.EnterpriseList
	})
	r := g.Post(g.Token("online-hall"), `{
		a: citizen(idNumber: "310115198503120012") { name birthDate }
		b: citizen(idNumber: "310115199001010029") { name birthDate }
		enterprises(first: 2) { totalCount } }`, nil)
	if r.Str("a.name") != "张伟" || r.Str("a.birthDate") != "1985-03-12" || r.Str("b.name") != "李娜" || r.Get("b.birthDate") != nil {
		t.Errorf("citizens through the REST registry: %s", r.Raw)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the registry was called %d times for two citizens, want one batch", n)
	}
	e := r.ErrorAt("enterprises")
	if e == nil || e.Extensions["code"] != errcode.SourceNotOffered || e.Extensions["source"] != "enterpriseList" || !strings.Contains(e.Message, "enterpriseList") {
		t.Errorf("enterprises without a list operation: %s", r.Raw)
	}
	if v, ok := r.Data["enterprises"]; !ok || v != nil {
		t.Errorf("enterprises: %s", r.Raw)
	}
	// Enterprises of a person still work: only the list is missing.
	r = g.Post(g.Token("supervision-platform"), `{ enterprises(legalRepresentative: "310115198503120012", first: 5) { totalCount } }`, nil)
	if len(r.Errors) != 0 {
		t.Errorf("enterprises of a legal representative: %s", r.Raw)
	}
}

// batchArrayRegistry is a population registry that answers a batch lookup
// (ids=A,B) with a top-level JSON array of records with nested fields; calls
// counts the lookups.
func batchArrayRegistry(calls *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/citizens" || r.Header.Get("X-Token") != "t0ken" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		calls.Add(1)
		people := map[string]any{
			"310115198503120012": map[string]any{"id": "310115198503120012", "basic": map[string]any{"name": "张伟", "sex": "M"}, "birth": map[string]any{"date": "1985-03-12"}},
			"310115199001010029": map[string]any{"id": "310115199001010029", "basic": map[string]any{"name": "李娜", "sex": "F"}, "birth": nil},
		}
		out := []any{}
		for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
			if p, ok := people[id]; ok {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(out)
	}))
}

// restBinding is the part of a configuration decodeRESTBinding reads.
type restBinding struct {
	Departments []config.Department `yaml:"departments"`
	Sources     config.Sources      `yaml:"sources"`
}

// decodeRESTBinding decodes, with unknown keys refused, the binding of the
// registry at url: records: $, nested fields, and no enterprise list.
func decodeRESTBinding(t *testing.T, url string) restBinding {
	t.Helper()
	binding := `
departments:
  - id: psb
    name: 人口库 (REST)
    protocol: rest
    endpoint: ` + url + `
    auth: {header: X-Token, key: t0ken}
    operations:
      person:
        batch: 50
        path: /api/citizens
        query: ids={keys}
        records: $
        keyField: id
    fields:
      - {from: id, to: idNumber}
      - {from: basic.name, to: name}
      - {from: basic.sex, to: gender, code: sex}
      - {from: birth.date, to: birthDate, date: "2006-01-02"}
    codes:
      sex: {M: MALE, F: FEMALE, "*": UNKNOWN}
sources:
  enterpriseList: none
`
	var part restBinding
	dec := yaml.NewDecoder(strings.NewReader(binding))
	dec.KnownFields(true)
	if err := dec.Decode(&part); err != nil {
		t.Fatal(err)
	}
	return part
}
