package rest

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/amr"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// decoder is a Source with a small binding, for decoding without a server.
func decoder(t testing.TB) *Source {
	t.Helper()
	src, err := New(config.Department{
		ID: "test", Endpoint: "http://127.0.0.1:1",
		Operations: map[string]config.Operation{
			"list": {Params: map[string]string{"path": "/x", "records": "result.items", "total": "result.count",
				"pageParam": "p", "sizeParam": "s", "maxPageSize": "10"}},
		},
		Fields: []config.FieldMap{{From: "id", To: "id"}, {From: "n", To: "n"}, {From: "ok", To: "ok"}, {From: "s", To: "s"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestDecode(t *testing.T) {
	src := decoder(t)
	op := src.ops["list"]
	tests := []struct {
		name  string
		body  string
		want  []map[string]string
		total int
		bad   bool
	}{
		{"scalars become strings", `{"result":{"count":"1","items":[{"id":"a","n":-1.50,"ok":true,"s":null}]}}`,
			[]map[string]string{{"id": "a", "n": "-1.50", "ok": "true", "s": ""}}, 1, false},
		{"unmapped nested values are ignored", `{"result":{"count":2,"items":[{"id":"a","extra":{"x":[1]}},{"id":"b","more":[]}]}}`,
			[]map[string]string{{"id": "a"}, {"id": "b"}}, 2, false},
		{"escapes", `{"result":{"count":1,"items":[{"id":"\u6d66\u4e1c\"x"}]}}`, []map[string]string{{"id": "浦东\"x"}}, 1, false},
		{"null records", `{"result":{"count":0,"items":null}}`, []map[string]string{}, 0, false},
		{"mapped nested object", `{"result":{"count":1,"items":[{"id":{"v":"a"}}]}}`, nil, 0, true},
		{"mapped array", `{"result":{"count":1,"items":[{"n":[1]}]}}`, nil, 0, true},
		{"record not an object", `{"result":{"count":1,"items":["a"]}}`, nil, 0, true},
		{"records not an array", `{"result":{"count":1,"items":{}}}`, nil, 0, true},
		{"missing records", `{"result":{"count":1}}`, nil, 0, true},
		{"negative total", `{"result":{"count":-1,"items":[]}}`, nil, 0, true},
		{"fractional total", `{"result":{"count":1.5,"items":[]}}`, nil, 0, true},
		{"truncated", `{"result":{"count":1,"items":[{"id":"a`, nil, 0, true},
		{"not JSON", `<html>`, nil, 0, true},
		{"top level array", `[]`, nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := src.decode(op, []byte(tc.body))
			if tc.bad {
				if err == nil {
					t.Fatalf("decoded %v", a.records)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.total != tc.total || len(a.records) != len(tc.want) {
				t.Fatalf("got %v total %d", a.records, a.total)
			}
			for i, w := range tc.want {
				for k, v := range w {
					if got, ok := a.records[i][k]; !ok || got != v {
						t.Errorf("record %d %s = %q, want %q", i, k, got, v)
					}
				}
			}
		})
	}
}

// simBodies are real answers of the AMR simulator, for the benchmark and the fuzz seeds.
func simBodies(t testing.TB) map[string][]byte {
	t.Helper()
	s := newSim(t)
	out := map[string][]byte{}
	for name, path := range map[string]string{
		"list":       "/v1/enterprises?page=1&size=100",
		"batch":      "/v1/enterprises?codes=" + dataset.E1 + "," + dataset.E3,
		"byLegalRep": "/v1/enterprises?legalRepId=" + dataset.WangQiang,
		"one":        "/v1/enterprises/" + dataset.E1,
		"error":      "/v1/enterprises/x",
	} {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
		req.Header.Set("X-API-Key", simKey)
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// BenchmarkDecodeList decodes and maps one full page (100 enterprises) of the registry.
func BenchmarkDecodeList(b *testing.B) {
	body := simBodies(b)["list"]
	src, err := New(amr.Binding("http://127.0.0.1:1", simKey), nil)
	if err != nil {
		b.Fatal(err)
	}
	op := src.ops["list"]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		a, _, err := src.decode(op, body)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range a.records {
			if _, err := src.mapping.Apply(r); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// FuzzDecode feeds arbitrary upstream bytes to every operation's decoder: it must never
// panic, and whatever it cannot read is an ErrBadResponse.
func FuzzDecode(f *testing.F) {
	for _, b := range simBodies(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"data":[{"tyshxydm":{"x":1},"djzt":9}],"total":"x"}`))
	src, err := New(amr.Binding("http://127.0.0.1:1", simKey), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, op := range src.ops {
			a, keyOf, err := src.decode(op, body)
			if err != nil {
				continue
			}
			if op.keyField != "" && len(keyOf) != len(a.records) {
				t.Fatalf("%s: %d keys for %d records", name, len(keyOf), len(a.records))
			}
			for _, r := range a.records {
				if _, err := src.mapping.Apply(r); err != nil && !errors.Is(err, adapters.ErrBadResponse) {
					t.Fatalf("%s: mapping error %v is not an ErrBadResponse", name, err)
				}
			}
		}
	})
}
