package soap

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/psb"
	"pudong.gov.cn/gateway/legacysim/simhttp"
)

// registry is a running PSB simulator and a source bound to it.
type registry struct {
	srv *httptest.Server
	ctl *simhttp.Control
	ds  *dataset.Dataset
	src *Source
}

func newRegistry(t testing.TB, wrap func(http.Handler) http.Handler) *registry {
	t.Helper()
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 200})
	ctl := simhttp.NewControl()
	h := psb.NewHandler(ds, ctl)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	src, err := New(psb.Binding(srv.URL), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &registry{srv: srv, ctl: ctl, ds: ds, src: src}
}

func TestFetchPersons(t *testing.T) {
	r := newRegistry(t, nil)
	got, err := r.src.Fetch(context.Background(), "person",
		[]string{dataset.ZhangWei, dataset.ChenJing, dataset.Unregistered, dataset.LiNa})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]adapters.Record{
		dataset.ZhangWei: {"idNumber": dataset.ZhangWei, "name": "张伟", "gender": "MALE", "birthDate": "1985-03-12",
			"ethnicity": "汉族", "householdAddress": "上海市浦东新区陆家嘴街道银城中路168弄3号1202室", "phone": "13812345678"},
		// 陈静 has no phone on file: the field is absent, not an empty string.
		dataset.ChenJing: {"idNumber": dataset.ChenJing, "name": "陈静", "gender": "FEMALE", "birthDate": "2001-07-15",
			"ethnicity": "汉族", "householdAddress": "上海市浦东新区张江镇祖冲之路887弄7号301室"},
		dataset.LiNa: {"idNumber": dataset.LiNa, "name": "李娜", "gender": "FEMALE", "birthDate": "1990-01-01",
			"ethnicity": "汉族", "householdAddress": "上海市浦东新区花木街道锦绣路1001弄12号502室", "phone": "13987654321"},
	}
	if len(got) != len(want) {
		t.Errorf("got keys %v, want %d (the unregistered ID absent)", keys(got), len(want))
	}
	for id, w := range want {
		if len(got[id]) != 1 || !reflect.DeepEqual(got[id][0], w) {
			t.Errorf("%s: got %v, want %v", id, got[id], w)
		}
	}
	if _, ok := got[dataset.Unregistered]; ok {
		t.Errorf("unregistered ID is present: %v", got[dataset.Unregistered])
	}
	// One call per key: the registry has no batch operation.
	if n := r.ctl.Count("QueryPerson"); n != 4 {
		t.Errorf("QueryPerson called %d times, want 4", n)
	}
}

func TestFetchMinorityEthnicity(t *testing.T) {
	r := newRegistry(t, nil)
	var p *dataset.Person
	for q := range r.ds.AllPersons() {
		if q.Ethnicity != "01" {
			p = &q
			break
		}
	}
	if p == nil {
		t.Fatal("no minority person in the test data")
	}
	got, err := r.src.Fetch(context.Background(), "person", []string{p.IDNumber})
	if err != nil {
		t.Fatal(err)
	}
	if rec := got[p.IDNumber]; len(rec) != 1 || rec[0]["ethnicity"] != psb.Ethnicities()[p.Ethnicity] || rec[0]["name"] != p.Name {
		t.Errorf("%s (MZ %s): got %v", p.Name, p.Ethnicity, rec)
	}
}

func TestFetchFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   simhttp.Fault
		timeout time.Duration
		want    error
		also    error
	}{
		{"server fault", simhttp.Fault{Mode: simhttp.ModeError}, 0, adapters.ErrUnavailable, nil},
		{"garbage", simhttp.Fault{Mode: simhttp.ModeGarbage}, 0, adapters.ErrBadResponse, nil},
		{"connection dropped", simhttp.Fault{Mode: simhttp.ModeDown}, 0, adapters.ErrUnavailable, nil},
		{"slow past the deadline", simhttp.Fault{Mode: simhttp.ModeSlow}, 100 * time.Millisecond,
			adapters.ErrUnavailable, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistry(t, readBodyFirst)
			if err := r.ctl.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			got, err := r.src.Fetch(ctx, "person", []string{dataset.ZhangWei})
			if !errors.Is(err, tc.want) || (tc.also != nil && !errors.Is(err, tc.also)) {
				t.Fatalf("Fetch = %v, %v; want %v", got, err, tc.want)
			}
			if tc.want == adapters.ErrUnavailable && errors.Is(err, adapters.ErrBadResponse) {
				t.Errorf("%v is both unavailable and bad", err)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v: the deadline was not respected", time.Since(start))
			}
			checkMessage(t, err)
		})
	}
}

// readBodyFirst reads the request body before the simulator delays its answer: net/http
// notices a client hanging up (and cancels the request's context) only once the body is
// read, and without it a slow simulator would hold the test server open after the client
// has given up.
func readBodyFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func TestServerFaultDetail(t *testing.T) {
	r := newRegistry(t, nil)
	if err := r.ctl.SetFault(simhttp.Fault{Mode: simhttp.ModeError}); err != nil {
		t.Fatal(err)
	}
	_, err := r.src.Fetch(context.Background(), "person", []string{dataset.ZhangWei})
	var f *Fault
	if !errors.As(err, &f) || f.Client() || f.ErrorCode != psb.CodeSystemError || f.String == "" {
		t.Errorf("err %v: want a Server fault %s", err, psb.CodeSystemError)
	}
}

func TestDepartmentDown(t *testing.T) {
	r := newRegistry(t, nil)
	r.srv.Close()
	_, err := r.src.Fetch(context.Background(), "person", []string{dataset.ZhangWei})
	if !errors.Is(err, adapters.ErrUnavailable) {
		t.Fatalf("Fetch against a closed server = %v", err)
	}
	checkMessage(t, err)
}

func TestCancelledBeforeTheNextKey(t *testing.T) {
	r := newRegistry(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.src.Fetch(ctx, "person", []string{dataset.ZhangWei, dataset.LiNa})
	if !errors.Is(err, adapters.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v", err)
	}
	if n := r.ctl.Count("QueryPerson"); n != 0 {
		t.Errorf("%d calls after cancellation", n)
	}
}

// A Client fault other than not-found means the binding no longer matches the system.
func TestClientFaultFromADriftedBinding(t *testing.T) {
	r := newRegistry(t, nil)
	d := psb.Binding(r.srv.URL)
	d.Operations["person"].Params["action"] = psb.Namespace + "/QueryPersonV2"
	src, err := New(d, r.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(context.Background(), "person", []string{dataset.ZhangWei})
	var f *Fault
	if !errors.Is(err, adapters.ErrUnavailable) || !errors.As(err, &f) || !f.Client() || f.ErrorCode != psb.CodeUnknownAction {
		t.Fatalf("Fetch = %v; want a Client fault %s wrapping ErrUnavailable", err, psb.CodeUnknownAction)
	}
	checkMessage(t, err)
}

func TestUnknownOperation(t *testing.T) {
	r := newRegistry(t, nil)
	if _, err := r.src.Fetch(context.Background(), "enterprise", []string{dataset.E1}); err == nil ||
		!strings.Contains(err.Error(), "enterprise") {
		t.Errorf("Fetch(enterprise) = %v", err)
	}
}

// sfzhRecorder keeps the key text the registry received, parsed as the registry parses it.
type sfzhRecorder struct {
	mu   sync.Mutex
	seen [][]string
}

func (s *sfzhRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var env struct {
			SFZH []string `xml:"Body>QueryPerson>SFZH"`
		}
		xml.Unmarshal(body, &env)
		s.mu.Lock()
		s.seen = append(s.seen, env.SFZH)
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func TestXMLInjectionIsInert(t *testing.T) {
	rec := &sfzhRecorder{}
	r := newRegistry(t, rec.wrap)
	for _, key := range []string{
		dataset.Unregistered + `</SFZH><SFZH>` + dataset.ZhangWei,
		`</SFZH></QueryPerson><QueryPerson xmlns="` + psb.Namespace + `"><SFZH>` + dataset.ZhangWei,
		`<![CDATA[` + dataset.ZhangWei + `]]>`,
		`&#51;` + dataset.ZhangWei[1:],
		`"/><SFZH>` + dataset.LiNa + `</SFZH>`,
	} {
		rec.mu.Lock()
		rec.seen = nil
		rec.mu.Unlock()
		got, err := r.src.Fetch(context.Background(), "person", []string{key})
		if err != nil || len(got) != 0 {
			t.Errorf("key %q: got %v, %v; want absent", key, got, err)
		}
		rec.mu.Lock()
		seen := rec.seen
		rec.mu.Unlock()
		if len(seen) != 1 || len(seen[0]) != 1 || seen[0][0] != key {
			t.Errorf("key %q: registry received SFZH %q", key, seen)
		}
	}
}

func TestBindingRoundTripsThroughYAML(t *testing.T) {
	r := newRegistry(t, nil)
	want := psb.Binding(r.srv.URL)
	text, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got config.Department
	if err := yaml.Unmarshal(text, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("YAML round trip changed the binding:\n%s\ngot  %+v\nwant %+v", text, got, want)
	}
	src, err := New(got, r.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Fetch(context.Background(), "person", []string{dataset.WangQiang})
	if err != nil || len(res[dataset.WangQiang]) != 1 || res[dataset.WangQiang][0]["name"] != "王强" {
		t.Errorf("Fetch through the YAML binding = %v, %v", res, err)
	}
}

func TestStatsCountedPerOperation(t *testing.T) {
	r := newRegistry(t, nil)
	for _, keys := range [][]string{{dataset.ZhangWei}, {dataset.LiNa, dataset.Unregistered}} {
		if _, err := r.src.Fetch(context.Background(), "person", keys); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get(r.srv.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Requests map[string]int64 `json:"requests"`
		Total    int64            `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stats.Requests, map[string]int64{"QueryPerson": 3}) || stats.Total != 3 {
		t.Errorf("stats %+v, want 3 QueryPerson", stats)
	}
}

func TestOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<s:Envelope xmlns:s="`+envelopeNS+`"><s:Body><Person><XM>`)
		w.Write(bytes.Repeat([]byte("a"), MaxResponseBytes))
		io.WriteString(w, `</XM></Person></s:Body></s:Envelope>`)
	}))
	defer srv.Close()
	src, err := New(psb.Binding(srv.URL), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background(), "person", []string{dataset.ZhangWei}); !errors.Is(err, adapters.ErrBadResponse) {
		t.Errorf("oversized answer: %v", err)
	}
}

// A department that answers about someone other than the person asked for is refused.
func TestAnswerForAnotherKeyIsRefused(t *testing.T) {
	r := newRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			body = bytes.ReplaceAll(body, []byte(dataset.LiNa), []byte(dataset.ZhangWei))
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
			next.ServeHTTP(w, req)
		})
	})
	_, err := r.src.Fetch(context.Background(), "person", []string{dataset.LiNa})
	if !errors.Is(err, adapters.ErrBadResponse) {
		t.Fatalf("Fetch = %v, want ErrBadResponse", err)
	}
	checkMessage(t, err)
}

func TestNewReportsEveryProblem(t *testing.T) {
	d := psb.Binding("ftp://registry")
	d.Protocol = "rest"
	d.Operations = map[string]config.Operation{
		"person": {Batch: -1, Params: map[string]string{
			"action": `urn:"q"`, "element": "1QueryPerson", "result": "Person",
			"keyField": "passport", "notfoundFault": "X",
		}},
		"other": {Params: map[string]string{"action": "urn:x", "element": "Q", "keyElement": "<K>", "result": ""}},
	}
	d.Fields = append(d.Fields, config.FieldMap{From: "ZZ", To: "z", Code: "missing"})
	_, err := New(d, nil)
	if err == nil {
		t.Fatal("New accepted a broken binding")
	}
	msg := err.Error()
	for _, want := range []string{
		"department psb",
		`protocol is "rest"`,
		`endpoint "ftp://registry/PopulationService"`,
		`code table "missing"`,
		"operation person: batch -1",
		`operation person: param action "urn:\"q\""`,
		`operation person: param element "1QueryPerson" is not an XML element name`,
		"operation person: param keyElement is required",
		`operation person: param keyField "passport"`,
		`operation person: unknown param "notfoundFault"`,
		`operation other: param keyElement "<K>" is not an XML element name`,
		"operation other: param result is required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
}

// checkMessage fails if an error message could carry personal data.
func checkMessage(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	for _, p := range []string{dataset.ZhangWei, dataset.LiNa, "13812345678"} {
		if strings.Contains(msg, p) {
			t.Errorf("message %q carries %s", msg, p)
		}
	}
	if !strings.Contains(msg, "psb") || !strings.Contains(msg, "person") {
		t.Errorf("message %q does not name the department and operation", msg)
	}
}

func keys(m map[string][]adapters.Record) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
