package rest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/idcode"
	"pudong.gov.cn/gateway/legacysim/amr"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

const simKey = "test-api-key"

// sim is the AMR simulator on a real loopback server, with a log of the URLs it received.
type sim struct {
	srv *httptest.Server
	ctl *simhttp.Control
	ds  *dataset.Dataset

	mu   sync.Mutex
	seen []url.URL
}

func newSim(t testing.TB) *sim {
	t.Helper()
	s := &sim{
		ctl: simhttp.NewControl(),
		ds:  dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 100, Enterprises: 300}),
	}
	h := amr.NewHandler(s.ds, simKey, s.ctl)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, *r.URL)
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sim) requests() []url.URL {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func (s *sim) reset() {
	s.ctl.Reset()
	s.mu.Lock()
	s.seen = nil
	s.mu.Unlock()
}

func (s *sim) binding() config.Department { return amr.Binding(s.srv.URL, simKey) }

func (s *sim) source(t testing.TB, d config.Department) *Source {
	t.Helper()
	src, err := New(d, s.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// sortedCodes is every credit code in the registry's listing order.
func (s *sim) sortedCodes() []string {
	codes := make([]string, s.ds.NumEnterprises())
	for i := range codes {
		codes[i] = s.ds.CreditCode(i)
	}
	slices.Sort(codes)
	return codes
}

// unknownCode is a well-formed credit code the registry does not hold.
func unknownCode() string {
	const prefix = "91310115MA1YYYYY1"
	return prefix + string(idcode.CreditCheckChar(prefix))
}

func codesOf(recs []adapters.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r["creditCode"]
	}
	return out
}

func TestFetchEnterprise(t *testing.T) {
	s := newSim(t)
	src := s.source(t, s.binding())
	tests := []struct {
		name  string
		keys  []string
		found []string
	}{
		{"one", []string{dataset.E1}, []string{dataset.E1}},
		{"missing", []string{unknownCode()}, nil},
		{"batch with a missing one", []string{dataset.E1, dataset.E2, unknownCode(), dataset.E3, dataset.E4, dataset.E5},
			[]string{dataset.E1, dataset.E2, dataset.E3, dataset.E4, dataset.E5}},
		{"duplicates", []string{dataset.E2, dataset.E2}, []string{dataset.E2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.reset()
			got, err := src.Fetch(t.Context(), "enterprise", tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(slices.Values(tc.found))) {
				t.Errorf("found %v, want %v", keys, tc.found)
			}
			for k, recs := range got {
				if len(recs) != 1 || recs[0]["creditCode"] != k {
					t.Errorf("%s: %v", k, recs)
				}
			}
			if n := s.ctl.Count("batch"); n != 1 {
				t.Errorf("%d upstream calls, want 1", n)
			}
		})
	}
}

// TestConversions checks the legacy quirks against the demo fixtures: capital in
// units of 10,000 CNY, the status as a JSON number, dates.
func TestConversions(t *testing.T) {
	s := newSim(t)
	src := s.source(t, s.binding())
	got, err := src.Fetch(t.Context(), "enterprise", []string{dataset.E1, dataset.E3, dataset.E4})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]adapters.Record{
		dataset.E1: {
			"creditCode": dataset.E1, "name": "上海浦江智联科技有限公司", "legalRepresentativeName": "张伟",
			"legalRepresentativeId": dataset.ZhangWei, "status": "ACTIVE", "establishedOn": "2016-04-18",
			"registeredCapital": "5000000.00",
			"businessScope":     "从事信息科技领域内的技术开发、技术咨询、技术服务；软件开发；计算机系统集成。",
			"address":           "上海市浦东新区张江镇碧波路690号4幢301室",
		},
	}
	if !reflect.DeepEqual(got[dataset.E1][0], want[dataset.E1]) {
		t.Errorf("E1:\n got %v\nwant %v", got[dataset.E1][0], want[dataset.E1])
	}
	for _, tc := range []struct{ code, status, capital, est string }{
		{dataset.E3, "REVOKED", "1000000.00", "2015-06-10"},
		{dataset.E4, "ACTIVE", "50000.00", "2018-03-22"},
	} {
		r := got[tc.code][0]
		if r["status"] != tc.status || r["registeredCapital"] != tc.capital || r["establishedOn"] != tc.est {
			t.Errorf("%s: %v", tc.code, r)
		}
	}
}

func TestBatchOfHundredIsOneCall(t *testing.T) {
	s := newSim(t)
	src := s.source(t, s.binding())
	codes := s.sortedCodes()
	keys := append(slices.Clone(codes[:99]), unknownCode())
	got, err := src.Fetch(t.Context(), "enterprise", keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 99 {
		t.Errorf("found %d, want 99", len(got))
	}
	if n := s.ctl.Count("batch"); n != 1 {
		t.Errorf("%d upstream calls for 100 keys, want 1", n)
	}
	// Handed more than the batch size, the adapter still answers, in batch-sized calls.
	s.reset()
	got, err = src.Fetch(t.Context(), "enterprise", codes[:250])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250 || s.ctl.Count("batch") != 3 {
		t.Errorf("250 keys: found %d in %d calls, want 250 in 3", len(got), s.ctl.Count("batch"))
	}
}

func TestSingleKeyPath(t *testing.T) {
	s := newSim(t)
	d := s.binding()
	d.Operations["enterprise"] = config.Operation{Params: map[string]string{"path": "/v1/enterprises/{key}", "keyField": "tyshxydm"}}
	src := s.source(t, d)
	got, err := src.Fetch(t.Context(), "enterprise", []string{dataset.E1, unknownCode(), dataset.E3})
	if err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{dataset.E1, dataset.E3}) {
		t.Errorf("found %v", keys)
	}
	if got[dataset.E3][0]["status"] != "REVOKED" {
		t.Errorf("E3: %v", got[dataset.E3])
	}
	if n := s.ctl.Count("get"); n != 3 {
		t.Errorf("%d calls for 3 keys on a single-key path, want 3", n)
	}
}

func TestByLegalRep(t *testing.T) {
	s := newSim(t)
	tests := []struct {
		name        string
		maxPageSize string
		key         string
		want        []string
		calls       int64
	}{
		{"王强", "100", dataset.WangQiang, []string{dataset.E2, dataset.E3}, 1},
		{"王强 one per page", "1", dataset.WangQiang, []string{dataset.E2, dataset.E3}, 2},
		{"刘洋", "100", dataset.LiuYang, []string{dataset.E4}, 1},
		{"nobody", "100", dataset.Unregistered + "0", nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := s.binding()
			d.Operations["byLegalRep"].Params["maxPageSize"] = tc.maxPageSize
			src := s.source(t, d)
			s.reset()
			got, err := src.Fetch(t.Context(), "byLegalRep", []string{tc.key})
			if err != nil {
				t.Fatal(err)
			}
			if c := codesOf(got[tc.key]); !slices.Equal(c, tc.want) {
				t.Errorf("got %v, want %v", c, tc.want)
			}
			if _, ok := got[tc.key]; ok != (tc.want != nil) {
				t.Errorf("present %v, want %v", ok, tc.want != nil)
			}
			if n := s.ctl.Count("byLegalRep"); n != tc.calls {
				t.Errorf("%d upstream calls, want %d", n, tc.calls)
			}
		})
	}

	t.Run("beyond maxPages", func(t *testing.T) {
		d := s.binding()
		d.Operations["byLegalRep"].Params["maxPageSize"] = "1"
		d.Operations["byLegalRep"].Params["maxPages"] = "1"
		_, err := s.source(t, d).Fetch(t.Context(), "byLegalRep", []string{dataset.WangQiang})
		if !errors.Is(err, adapters.ErrBadResponse) || !strings.Contains(err.Error(), "maxPages") {
			t.Errorf("got %v, want ErrBadResponse naming maxPages", err)
		}
		if strings.Contains(err.Error(), dataset.WangQiang) {
			t.Errorf("the message quotes the ID number: %v", err)
		}
	})
}

func TestPage(t *testing.T) {
	s := newSim(t)
	src := s.source(t, s.binding())
	all := s.sortedCodes()
	n := len(all)
	if n != 305 {
		t.Fatalf("the registry holds %d enterprises; the cases below assume 305", n)
	}
	tests := []struct {
		name          string
		op, key       string
		offset, limit int
		want          []string
		total         int
		calls         int64
	}{
		{"first page", "list", "", 0, 20, all[:20], n, 1},
		{"aligned", "list", "", 40, 20, all[40:60], n, 1},
		{"across a boundary", "list", "", 25, 20, all[25:45], n, 2},
		{"odd limit across a boundary", "list", "", 21, 19, all[21:40], n, 2},
		{"odd limit aligned", "list", "", 38, 19, all[38:57], n, 1},
		{"tail", "list", "", 300, 20, all[300:], n, 1},
		{"tail across a boundary", "list", "", 293, 10, all[293:303], n, 2},
		{"beyond the end", "list", "", n + 10, 20, nil, n, 1},
		{"bigger than maxPageSize", "list", "", 10, 250, all[10:260], n, 3},
		{"count only", "list", "", 0, 0, nil, n, 1},
		{"王强 second", "byLegalRep", dataset.WangQiang, 1, 1, []string{dataset.E3}, 2, 1},
		{"王强 both", "byLegalRep", dataset.WangQiang, 0, 5, []string{dataset.E2, dataset.E3}, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.reset()
			p, err := src.Page(t.Context(), tc.op, tc.key, tc.offset, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := codesOf(p.Records); !slices.Equal(got, tc.want) {
				t.Errorf("got %d records %v…, want %d", len(got), got[:min(3, len(got))], len(tc.want))
			}
			if p.Total != tc.total {
				t.Errorf("total %d, want %d", p.Total, tc.total)
			}
			if calls := s.ctl.Count(tc.op); calls != tc.calls {
				t.Errorf("%d upstream calls, want %d", calls, tc.calls)
			}
		})
	}
	for _, bad := range []struct{ op, key string }{{"list", "x"}, {"byLegalRep", ""}, {"enterprise", dataset.E1}, {"nope", ""}} {
		if _, err := src.Page(t.Context(), bad.op, bad.key, 0, 10); err == nil {
			t.Errorf("Page(%q, %q) succeeded", bad.op, bad.key)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	s := newSim(t)
	d := s.binding()
	d.Auth.Key = "wrong-key-12345"
	src := s.source(t, d)
	_, err := src.Fetch(t.Context(), "enterprise", []string{dataset.E1})
	if !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("got %v, want ErrUnavailable saying the API key was refused", err)
	}
	if strings.Contains(err.Error(), d.Auth.Key) {
		t.Errorf("the message quotes the key: %v", err)
	}
}

func TestFaults(t *testing.T) {
	s := newSim(t)
	src := s.source(t, s.binding())
	tests := []struct {
		name    string
		fault   simhttp.Fault
		timeout time.Duration
		want    error
		also    error
	}{
		{"server error", simhttp.Fault{Mode: simhttp.ModeError}, 0, adapters.ErrUnavailable, nil},
		{"garbage", simhttp.Fault{Mode: simhttp.ModeGarbage}, 0, adapters.ErrBadResponse, nil},
		{"down", simhttp.Fault{Mode: simhttp.ModeDown}, 0, adapters.ErrUnavailable, nil},
		{"slow past the deadline", simhttp.Fault{Mode: simhttp.ModeSlow, Latency: "5s"}, 50 * time.Millisecond,
			adapters.ErrUnavailable, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ctl.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.ctl.SetFault(simhttp.Fault{}) })
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			for _, call := range []struct{ op, key string }{{"enterprise", dataset.E1}, {"byLegalRep", dataset.WangQiang}} {
				start := time.Now()
				_, err := src.Fetch(ctx, call.op, []string{call.key})
				if !errors.Is(err, tc.want) || tc.also != nil && !errors.Is(err, tc.also) {
					t.Fatalf("%s: got %v, want %v", call.op, err, tc.want)
				}
				if tc.timeout > 0 && time.Since(start) > 2*time.Second {
					t.Errorf("%s: returned after %v, the deadline was %v", call.op, time.Since(start), tc.timeout)
				}
				if msg := err.Error(); !strings.Contains(msg, "amr "+call.op) || strings.Contains(msg, call.key) {
					t.Errorf("the message must name department and operation, never the key: %v", msg)
				}
			}
		})
	}
	t.Run("nobody listening", func(t *testing.T) {
		ln := httptest.NewServer(http.NotFoundHandler())
		d := s.binding()
		d.Endpoint = ln.URL
		ln.Close()
		_, err := s.source(t, d).Fetch(t.Context(), "byLegalRep", []string{dataset.WangQiang})
		if !errors.Is(err, adapters.ErrUnavailable) || strings.Contains(err.Error(), dataset.WangQiang) {
			t.Errorf("got %v, want ErrUnavailable without the ID number", err)
		}
	})
}

// TestKeysStayInert sends keys that would be another resource or another parameter if
// they were not escaped, and checks what the simulator really received.
func TestKeysStayInert(t *testing.T) {
	s := newSim(t)
	pathBinding := s.binding()
	pathBinding.Operations["enterprise"] = config.Operation{Params: map[string]string{"path": "/v1/enterprises/{key}", "keyField": "tyshxydm"}}
	bySegment := s.source(t, pathBinding)
	batch := s.source(t, s.binding())

	t.Run("path", func(t *testing.T) {
		for _, key := range []string{"../admin", "..", ".", "../../_sim/fault", dataset.E1 + "/../" + dataset.E2, "a?codes=" + dataset.E1, "%2e%2e", dataset.E1 + "#x"} {
			s.reset()
			got, err := bySegment.Fetch(t.Context(), "enterprise", []string{key})
			if len(got) != 0 {
				t.Errorf("%q: answered %v", key, got)
			}
			if !errors.Is(err, adapters.ErrBadResponse) || !strings.Contains(err.Error(), "INVALID_CODE") {
				t.Errorf("%q: got %v, want the registry's refusal of a malformed code", key, err)
			}
			reqs := s.requests()
			if len(reqs) != 1 || s.ctl.Count("get") != 1 {
				t.Fatalf("%q: %d requests, want exactly one lookup", key, len(reqs))
			}
			seg, ok := strings.CutPrefix(reqs[0].EscapedPath(), "/v1/enterprises/")
			if unescaped, _ := url.PathUnescape(seg); !ok || strings.Contains(seg, "/") || unescaped != key || reqs[0].RawQuery != "" {
				t.Errorf("%q arrived as path %q query %q", key, reqs[0].EscapedPath(), reqs[0].RawQuery)
			}
		}
	})

	t.Run("query", func(t *testing.T) {
		for _, tc := range []struct {
			src      *Source
			op, key  string
			param    string
			upstream string // counter of the request, "" when nothing may be sent
		}{
			{batch, "enterprise", "x&codes=" + dataset.E1, "codes", "batch"},
			{batch, "enterprise", dataset.E1 + "&legalRepId=" + dataset.WangQiang, "codes", "batch"},
			{batch, "enterprise", dataset.E1 + "," + dataset.E2, "", ""},
			{batch, "byLegalRep", "x&codes=" + dataset.E1, "legalRepId", "byLegalRep"},
			{batch, "byLegalRep", dataset.WangQiang + "&page=2", "legalRepId", "byLegalRep"},
			{batch, "byLegalRep", "x%26codes%3D" + dataset.E1, "legalRepId", "byLegalRep"},
		} {
			s.reset()
			got, err := tc.src.Fetch(t.Context(), tc.op, []string{tc.key})
			if err != nil || len(got) != 0 {
				t.Errorf("%s %q: got %v, %v; want nothing found", tc.op, tc.key, got, err)
			}
			reqs := s.requests()
			if tc.upstream == "" {
				if len(reqs) != 0 {
					t.Errorf("%s %q: sent %v, want nothing sent", tc.op, tc.key, reqs)
				}
				continue
			}
			if len(reqs) != 1 || s.ctl.Count(tc.upstream) != 1 {
				t.Fatalf("%s %q: requests %v, want one %s", tc.op, tc.key, reqs, tc.upstream)
			}
			q := reqs[0].Query()
			if !slices.Equal(q[tc.param], []string{tc.key}) {
				t.Errorf("%s %q: %s arrived as %q", tc.op, tc.key, tc.param, q[tc.param])
			}
			for name, vals := range q {
				if name != tc.param && name != "page" && name != "size" || len(vals) != 1 {
					t.Errorf("%s %q: the request carries %s=%q", tc.op, tc.key, name, vals)
				}
			}
		}
	})
}

func TestBindingYAMLRoundTrip(t *testing.T) {
	s := newSim(t)
	orig := s.binding()
	b, err := yaml.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	var d config.Department
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, orig) {
		t.Fatalf("round trip changed the binding:\n%s", b)
	}
	src := s.source(t, d)
	got, err := src.Fetch(t.Context(), "enterprise", []string{dataset.E1})
	if err != nil || got[dataset.E1][0]["registeredCapital"] != "5000000.00" {
		t.Fatalf("after the round trip: %v, %v", got, err)
	}
	p, err := src.Page(t.Context(), "byLegalRep", dataset.WangQiang, 0, 20)
	if err != nil || p.Total != 2 {
		t.Fatalf("after the round trip: %v, %v", p, err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	d := config.Department{
		ID:       "amr",
		Protocol: "rest",
		Endpoint: "ftp://registry",
		Auth:     config.HeaderAuth{Header: "X-API-Key"},
		Operations: map[string]config.Operation{
			"enterprise": {Batch: 100, Params: map[string]string{"path": "/v1/enterprises", "query": "codes={key}", "recrods": "data"}},
			"byLegalRep": {Params: map[string]string{"path": "v1/enterprises", "query": "legalRepId={key}", "pageParam": "page",
				"records": "data", "total": "total", "maxPageSize": "many"}},
			"list":  {Params: map[string]string{"records": "data"}},
			"batch": {Batch: 10, Params: map[string]string{"path": "/v1/x/{key}", "query": "ids={keys}"}},
		},
		Fields: []config.FieldMap{{From: "djzt", To: "status", Code: "missing"}},
	}
	_, err := New(d, nil)
	if err == nil {
		t.Fatal("New accepted a broken binding")
	}
	for _, want := range []string{
		"department amr",
		"endpoint \"ftp://registry\"",
		"header X-API-Key has no key",
		`code table "missing" is not defined`,
		`operation enterprise: unknown parameter "recrods"`,
		"operation enterprise: batch 100 needs {keys}",
		"operation byLegalRep: path \"v1/enterprises\" must start with /",
		"operation byLegalRep: pageParam and sizeParam go together",
		"operation byLegalRep: maxPageSize \"many\" is not a whole number",
		"operation list: path is required",
		"operation list: an operation without a key placeholder must page",
		"operation batch: path and query hold 2 key placeholders",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

func TestAPIKeyFromEnvironment(t *testing.T) {
	s := newSim(t)
	d := s.binding()
	d.Auth = config.HeaderAuth{Header: "X-API-Key", KeyEnv: "AMR_TEST_API_KEY"}
	t.Setenv("AMR_TEST_API_KEY", "")
	if _, err := New(d, nil); err == nil || !strings.Contains(err.Error(), "AMR_TEST_API_KEY") {
		t.Errorf("an empty keyEnv: got %v", err)
	}
	t.Setenv("AMR_TEST_API_KEY", simKey)
	got, err := s.source(t, d).Fetch(t.Context(), "enterprise", []string{dataset.E2})
	if err != nil || len(got) != 1 {
		t.Errorf("with the key from the environment: %v, %v", got, err)
	}
}

// TestHostileUpstream covers answers no simulator fault produces: redirects, oversized
// bodies, records for keys nobody asked for.
func TestHostileUpstream(t *testing.T) {
	var elsewhere int
	tests := []struct {
		name    string
		op, key string
		handler http.HandlerFunc
		want    error
	}{
		{"redirect", "enterprise", dataset.E1, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/elsewhere" {
				elsewhere++
			}
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, adapters.ErrBadResponse},
		{"too big", "enterprise", dataset.E1, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"data":[`))
			w.Write([]byte(strings.Repeat(" ", MaxResponseBytes)))
			w.Write([]byte(`]}`))
		}, adapters.ErrBadResponse},
		{"a record nobody asked for", "enterprise", dataset.E1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data":[{"tyshxydm":%q}],"total":1}`, dataset.E2)
		}, adapters.ErrBadResponse},
		{"the key is ignored", "byLegalRep", dataset.WangQiang, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data":[{"tyshxydm":%q,"fddbr_sfzh":%q}],"total":1}`, dataset.E1, dataset.ZhangWei)
		}, adapters.ErrBadResponse},
		{"no total", "byLegalRep", dataset.WangQiang, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"data":[]}`))
		}, adapters.ErrBadResponse},
		{"rate limited", "enterprise", dataset.E1, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}, adapters.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			src, err := New(amr.Binding(srv.URL, simKey), srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Fetch(t.Context(), tc.op, []string{tc.key}); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if elsewhere != 0 {
		t.Errorf("the redirect was followed")
	}
}
