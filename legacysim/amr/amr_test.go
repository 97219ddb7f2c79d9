package amr

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

const testKey = "sim-key"

func newServer(t *testing.T) (*httptest.Server, *simhttp.Control, *dataset.Dataset) {
	t.Helper()
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 50, Enterprises: 200})
	ctl := simhttp.NewControl()
	srv := httptest.NewServer(NewHandler(ds, testKey, ctl))
	t.Cleanup(srv.Close)
	return srv, ctl, ds
}

func get(t *testing.T, srv *httptest.Server, method, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// codeWith returns prefix completed with its right GB 32100 check character (ok) or a
// wrong one.
func codeWith(prefix string, ok bool) string {
	c := idcode.CreditCheckChar(prefix)
	if !ok {
		c = map[bool]byte{true: '1', false: '0'}[c == '0']
	}
	return prefix + string(c)
}

func TestRoutes(t *testing.T) {
	srv, ctl, ds := newServer(t)
	unknown, malformed := codeWith("91310115MA1FL0AB1", true), codeWith("91310115MA1FL0AB1", false)
	tests := []struct {
		name, method, path, key string
		status                  int
		contains                []string // substrings of the body
		op                      string   // counter that must move
	}{
		{"no key", "GET", "/v1/enterprises/" + dataset.E1, "", 401, []string{`"code":"UNAUTHORIZED"`}, "get"},
		{"wrong key", "GET", "/v1/enterprises/" + dataset.E1, "nope", 401, []string{`"code":"UNAUTHORIZED"`}, "get"},
		{"one", "GET", "/v1/enterprises/" + dataset.E1, testKey, 200,
			[]string{`"tyshxydm":"91310115MA1FL0AB0P"`, `"zczb":"500.0000"`, `"clrq":"2016-04-18"`, `"djzt":1,`, `"fddbr_sfzh":"310115198503120012"`}, "get"},
		{"revoked is a number too", "GET", "/v1/enterprises/" + dataset.E3, testKey, 200, []string{`"djzt":2,`}, "get"},
		{"unknown", "GET", "/v1/enterprises/" + unknown, testKey, 404, []string{`"code":"NOT_FOUND"`}, "get"},
		{"bad check char", "GET", "/v1/enterprises/" + malformed, testKey, 400, []string{`"code":"INVALID_CODE"`}, "get"},
		{"escaped traversal", "GET", "/v1/enterprises/..%2F..%2F_sim%2Fstats", testKey, 400, []string{`"code":"INVALID_CODE"`}, "get"},
		{"extra segment", "GET", "/v1/enterprises/" + dataset.E1 + "/x", testKey, 400, []string{`"code":"INVALID_CODE"`}, "get"},
		{"batch", "GET", "/v1/enterprises?codes=" + dataset.E1 + ",nope," + dataset.E2 + "," + dataset.E1, testKey, 200,
			[]string{`"total":2`, dataset.E1, dataset.E2}, "batch"},
		{"batch too big", "GET", "/v1/enterprises?codes=" + strings.Repeat("x,", 100) + "x", testKey, 400, []string{`"code":"TOO_MANY_CODES"`}, "batch"},
		{"by legal rep", "GET", "/v1/enterprises?legalRepId=" + dataset.WangQiang, testKey, 200,
			[]string{`"total":2`, `"page":1`, `"size":20`, dataset.E2, dataset.E3}, "byLegalRep"},
		{"list default page", "GET", "/v1/enterprises", testKey, 200, []string{fmt.Sprintf(`"total":%d`, ds.NumEnterprises()), `"size":20`}, "list"},
		{"size too big", "GET", "/v1/enterprises?size=101", testKey, 400, []string{`"code":"INVALID_PAGING"`}, "list"},
		{"page zero", "GET", "/v1/enterprises?page=0", testKey, 400, []string{`"code":"INVALID_PAGING"`}, "list"},
		{"page not a number", "GET", "/v1/enterprises?page=x", testKey, 400, []string{`"code":"INVALID_PAGING"`}, "list"},
		{"codes with legalRepId", "GET", "/v1/enterprises?codes=a&legalRepId=b", testKey, 400, []string{`"code":"BAD_REQUEST"`}, "batch"},
		{"post", "POST", "/v1/enterprises", testKey, 405, []string{`"code":"METHOD_NOT_ALLOWED"`}, "list"},
		{"elsewhere", "GET", "/v1/persons", testKey, 404, []string{`"code":"NOT_FOUND"`}, "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ctl.Count(tc.op)
			status, body := get(t, srv, tc.method, tc.path, tc.key)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if !json.Valid(body) {
				t.Fatalf("body is not JSON: %s", body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("body lacks %s: %s", s, body)
				}
			}
			if ctl.Count(tc.op) != before+1 {
				t.Errorf("counter %q did not move", tc.op)
			}
		})
	}
}

func TestListIsOrderedAndPaged(t *testing.T) {
	srv, _, ds := newServer(t)
	var seen []string
	for page := 1; ; page++ {
		status, body := get(t, srv, "GET", fmt.Sprintf("/v1/enterprises?page=%d&size=37", page), testKey)
		if status != 200 {
			t.Fatalf("page %d: status %d", page, status)
		}
		var l listJSON
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		if l.Total != ds.NumEnterprises() || l.Page != page || l.Size != 37 {
			t.Fatalf("page %d: total %d page %d size %d", page, l.Total, l.Page, l.Size)
		}
		if len(l.Data) == 0 {
			break
		}
		for _, e := range l.Data {
			seen = append(seen, e.Tyshxydm)
		}
	}
	if len(seen) != ds.NumEnterprises() {
		t.Fatalf("listed %d enterprises, the registry has %d", len(seen), ds.NumEnterprises())
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] >= seen[i] {
			t.Fatalf("not in strict credit-code order at %d: %s, %s", i, seen[i-1], seen[i])
		}
	}
}

func TestFaults(t *testing.T) {
	srv, ctl, _ := newServer(t)
	if err := ctl.SetFault(simhttp.Fault{Mode: simhttp.ModeError}); err != nil {
		t.Fatal(err)
	}
	status, body := get(t, srv, "GET", "/v1/enterprises/"+dataset.E1, testKey)
	if status != 500 || !strings.Contains(string(body), `"code":"INTERNAL_ERROR"`) {
		t.Errorf("error mode: %d %s", status, body)
	}
	if err := ctl.SetFault(simhttp.Fault{Mode: simhttp.ModeGarbage}); err != nil {
		t.Fatal(err)
	}
	status, body = get(t, srv, "GET", "/v1/enterprises/"+dataset.E1, testKey)
	if status != 200 || json.Valid(body) {
		t.Errorf("garbage mode: %d, valid JSON %v", status, json.Valid(body))
	}
}

// TestMillion shows the registry copes with a million enterprises over the district's
// 5.7 million residents, generated when asked: indexed in seconds at eight bytes an
// enterprise, lookups by binary search.
func TestMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes a million enterprises")
	}
	const n = 1_000_000
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 5_700_000, Enterprises: n})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	reg := newRegistry(ds, testKey)
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("indexed %d enterprises in %v; the heap grew by %d KiB", ds.NumEnterprises(), took, grew>>10)
	if grew > 16<<20 {
		t.Errorf("the indexes cost %d MiB, want about 8 MB", grew>>20)
	}
	for i := 1; i < len(reg.byCode); i++ {
		if ds.CreditCode(int(reg.byCode[i-1])) >= ds.CreditCode(int(reg.byCode[i])) {
			t.Fatalf("listing order is not by credit code at %d", i)
		}
	}
	e := ds.Enterprise(n / 2)
	if got, ok := ds.EnterpriseByCode(e.CreditCode); !ok || got != e {
		t.Errorf("lookup %s: %+v %v", e.CreditCode, got, ok)
	}
	reps := reg.represented(e.LegalRepID)
	if !slices.ContainsFunc(reps, func(i int32) bool { return ds.CreditCode(int(i)) == e.CreditCode }) {
		t.Errorf("%s is not among the %d enterprises %s represents", e.CreditCode, len(reps), e.LegalRepID)
	}
	for _, i := range reps {
		if ds.LegalRepID(int(i)) != e.LegalRepID {
			t.Errorf("%s listed for %s", ds.CreditCode(int(i)), e.LegalRepID)
		}
	}
	runtime.KeepAlive(reg)
}

// TestDistrictRegistry: over Pudong's registry generated when asked (300 000
// enterprises, 5.7 million residents), one enterprise, a batch, a representative's
// enterprises and a page of the listing answer as over a held one.
func TestDistrictRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes 300 000 enterprises")
	}
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 5_700_000, Enterprises: 300_000})
	srv := httptest.NewServer(NewHandler(ds, testKey, simhttp.NewControl()))
	t.Cleanup(srv.Close)
	e, f := ds.Enterprise(ds.NumEnterprises()-1), ds.Enterprise(1000)
	status, body := get(t, srv, "GET", "/v1/enterprises/"+e.CreditCode, testKey)
	var one enterpriseJSON
	if err := json.Unmarshal(body, &one); status != 200 || err != nil || one != render(&e) {
		t.Errorf("one enterprise: %d %s", status, body)
	}
	status, body = get(t, srv, "GET", "/v1/enterprises?codes="+e.CreditCode+","+f.CreditCode+","+codeWith("91310115MA1YYYYY1", true), testKey)
	var batch batchJSON
	if err := json.Unmarshal(body, &batch); status != 200 || err != nil || batch.Total != 2 {
		t.Errorf("batch: %d %s", status, body)
	}
	status, body = get(t, srv, "GET", "/v1/enterprises?legalRepId="+e.LegalRepID+"&size=100", testKey)
	var reps listJSON
	if err := json.Unmarshal(body, &reps); status != 200 || err != nil || !slices.ContainsFunc(reps.Data, func(j enterpriseJSON) bool { return j == render(&e) }) {
		t.Errorf("enterprises of %s: %d %s", e.LegalRepID, status, body)
	}
	status, body = get(t, srv, "GET", "/v1/enterprises?page=1500&size=100", testKey)
	var page listJSON
	if err := json.Unmarshal(body, &page); status != 200 || err != nil || page.Total != ds.NumEnterprises() || len(page.Data) != 100 {
		t.Errorf("page 1500: %d total %d, %d records", status, page.Total, len(page.Data))
	}
}
