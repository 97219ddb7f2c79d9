package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/e2e"
)

// otlpReceiver is an OTLP/HTTP trace collector: it keeps every span it is sent, and the
// raw bodies for leak checks.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []gotSpan
	raw   [][]byte
}

type gotSpan struct {
	Name, TraceID, SpanID, Parent, Service string
	Attrs                                  map[string]string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var msg coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.raw = append(r.raw, body)
		for _, rs := range msg.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.GetAttributes() {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					g := gotSpan{Name: s.Name, TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId),
						Parent: hex.EncodeToString(s.ParentSpanId), Service: service, Attrs: map[string]string{}}
					for _, a := range s.Attributes {
						switch v := a.Value.Value.(type) {
						case *commonpb.AnyValue_StringValue:
							g.Attrs[a.Key] = v.StringValue
						case *commonpb.AnyValue_IntValue:
							g.Attrs[a.Key] = strconv.FormatInt(v.IntValue, 10)
						case *commonpb.AnyValue_BoolValue:
							g.Attrs[a.Key] = strconv.FormatBool(v.BoolValue)
						}
					}
					r.spans = append(r.spans, g)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(nil)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) got() ([]gotSpan, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gotSpan(nil), r.spans...), append([][]byte(nil), r.raw...)
}

// headerSpy sits in front of a department and notes the traceparent of each request.
type headerSpy struct {
	mu   sync.Mutex
	seen []string
}

func (h *headerSpy) proxy(t *testing.T, endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Get("traceparent"))
		h.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

func (h *headerSpy) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// idNumberRE matches a citizen ID number (18 characters, the last a digit or X).
var idNumberRE = regexp.MustCompile(`[1-9]\d{16}[\dX]`)

// A traced request end to end, exported over OTLP/HTTP to a collector the test runs:
// the caller's traceparent is continued, the operation, department lookups, calls and
// the audit commit are spans of that trace, the SOAP and REST departments receive the
// trace, the request's log lines carry its id — and no ID number leaves in a span.
func TestTracingEndToEnd(t *testing.T) {
	ctx := context.Background()
	rcv := newOTLPReceiver(t)
	spies := map[string]*headerSpy{}
	g := e2e.Start(t, func(cfg *config.Config) {
		for i, d := range cfg.Departments {
			if d.Protocol == "soap" || d.Protocol == "rest" {
				spies[d.ID] = &headerSpy{}
				cfg.Departments[i].Endpoint = spies[d.ID].proxy(t, d.Endpoint)
			}
		}
		cfg.Tracing = resolveTracing(config.Tracing{Endpoint: rcv.srv.URL, ServiceName: "gateway-under-test"}, func(string) string { return "" })
	})
	const callerTrace = "0af7651916cd43dd8448eb211c80319c"
	postInCallersTrace(t, g, callerTrace, `query Reps { enterprises(first: 3) { edges { node { name legalRepresentative { name phone } } } } }`)
	flush := func() {
		t.Helper()
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := g.Parts.Tracing.ForceFlush(fctx); err != nil {
			t.Fatalf("flush to the collector: %v", err)
		}
	}
	flush()
	spans, _ := rcv.got()
	byName, ids := indexSpans(t, spans, callerTrace)
	checkSpanTree(t, byName)
	checkDepartmentsInTrace(t, spies, ids, callerTrace)

	// An app that names an operation after the person it reads.
	postInCallersTrace(t, g, callerTrace, `query Person310115198503120012 { enterprises(first: 1) { edges { node { name legalRepresentative { name } } } } }`)
	flush()
	spans, bodies := rcv.got()
	byName, _ = indexSpans(t, spans, callerTrace)
	if w := byName["query"]; len(w) != 1 || w[0].Attrs["gateway.operation_name_withheld"] != "true" || w[0].Attrs["graphql.operation.name"] != "" {
		t.Errorf("the operation named after a person: want one span named by its type alone, with the name withheld: %+v", w)
	}
	for _, b := range bodies {
		if m := idNumberRE.Find(b); m != nil {
			t.Errorf("an ID number left in the exported spans: %s", m)
		}
	}
	line := ""
	for _, l := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(l, `msg=request`) && strings.Contains(l, "path=/graphql") {
			line = l
		}
	}
	if !strings.Contains(line, "trace_id="+callerTrace) {
		t.Errorf("the access log line lacks the trace id: %q", line)
	}
}

// postInCallersTrace sends a query (one that reaches the PSB and the AMR), with a
// traceparent in the caller's trace.
func postInCallersTrace(t *testing.T, g *e2e.Gateway, callerTrace, query string) {
	t.Helper()
	body := `{"query":"` + query + `"}`
	req, _ := http.NewRequest(http.MethodPost, g.Srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.Token("online-hall"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+callerTrace+"-b7ad6b7169203331-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), "legalRepresentative") {
		t.Fatalf("query: %d %s", res.StatusCode, raw)
	}
}

// indexSpans checks that every span is of the gateway's service in the caller's
// trace, and returns them by name and by span id.
func indexSpans(t *testing.T, spans []gotSpan, callerTrace string) (byName map[string][]gotSpan, ids map[string]gotSpan) {
	t.Helper()
	byName, ids = map[string][]gotSpan{}, map[string]gotSpan{}
	for _, s := range spans {
		if s.TraceID != callerTrace {
			t.Errorf("span %q is in trace %s, not the caller's", s.Name, s.TraceID)
		}
		if s.Service != "gateway-under-test" {
			t.Errorf("span %q of service %q", s.Name, s.Service)
		}
		byName[s.Name] = append(byName[s.Name], s)
		ids[s.SpanID] = s
	}
	return byName, ids
}

// checkSpanTree checks the server span under the caller's, the operation span
// under it, the department lookup, call and attempt spans, and the audit commit.
func checkSpanTree(t *testing.T, byName map[string][]gotSpan) {
	t.Helper()
	server, op := byName["POST /graphql"], byName["query Reps"]
	if len(server) != 1 || server[0].Parent != "b7ad6b7169203331" {
		t.Fatalf("want one server span under the caller's span: %+v", server)
	}
	if len(op) != 1 || op[0].Parent != server[0].SpanID || op[0].Attrs["gateway.consumer"] != "online-hall" ||
		op[0].Attrs["gateway.purpose"] == "" || op[0].Attrs["graphql.operation.type"] != "query" {
		t.Fatalf("operation span: %+v", op)
	}
	for _, name := range []string{"amr list", "amr list call", "amr list attempt", "psb person", "psb person call", "psb person attempt", "audit commit"} {
		if len(byName[name]) == 0 {
			var names []string
			for n := range byName {
				names = append(names, n)
			}
			t.Errorf("no %q span; got %v", name, names)
		}
	}
	if a := byName["audit commit"]; len(a) > 0 && a[0].Parent != op[0].SpanID {
		t.Errorf("the audit commit belongs to the operation")
	}
	if c := byName["psb person call"]; len(c) > 0 && (c[0].Attrs["gateway.breaker.state"] != "closed" || c[0].Attrs["gateway.batch.size"] == "") {
		t.Errorf("department call attributes: %v", c[0].Attrs)
	}
}

// checkDepartmentsInTrace checks that the SOAP and REST departments were called
// with a traceparent of the caller's trace whose parent is an attempt span.
func checkDepartmentsInTrace(t *testing.T, spies map[string]*headerSpy, ids map[string]gotSpan, callerTrace string) {
	t.Helper()
	for id, spy := range spies {
		seen := spy.all()
		if len(seen) == 0 {
			t.Errorf("department %s was not called", id)
		}
		for _, tp := range seen {
			parts := strings.Split(tp, "-")
			if len(parts) != 4 || parts[1] != callerTrace {
				t.Errorf("department %s got traceparent %q", id, tp)
				continue
			}
			if s, ok := ids[parts[2]]; !ok || !strings.HasSuffix(s.Name, " attempt") {
				t.Errorf("department %s's parent span %s is not an attempt span (%q)", id, parts[2], s.Name)
			}
		}
	}
}

// OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on, in the demo too; spans reach the
// collector at the latest when the gateway shuts down.
func TestTracingOnInTheDemoByEnvironment(t *testing.T) {
	rcv := newOTLPReceiver(t)
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return rcv.srv.URL
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &e2e.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--data", dir,
			"--sim-citizens", "20", "--sim-enterprises", "10", "--sim-credit-records", "20"}, getenv, out)
	}()
	addr := ""
	for deadline := time.Now().Add(60 * time.Second); addr == ""; {
		if m := listenRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the demo exited: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not listen within a minute:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "tracing on") {
		t.Errorf("the demo does not say tracing is on:\n%s", out.String())
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ me { consumer } }"}`))
	req.Header.Set("Authorization", "Bearer "+mintFor(t, dir, "--consumer", "online-hall"))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not shut down within 30s")
	}
	spans, _ := rcv.got()
	found := false
	for _, s := range spans {
		found = found || s.Name == "POST /graphql" && s.Service == "pudong-gateway"
	}
	if !found {
		t.Errorf("the collector got no server span of pudong-gateway: %+v", spans)
	}
}

// The standard variables turn tracing on and override the file; OTEL_SDK_DISABLED wins.
func TestResolveTracingEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	file := config.Tracing{Endpoint: "http://collector:4318", ServiceName: "gw", SampleRatio: 0.5}
	for _, c := range []struct {
		name string
		in   config.Tracing
		env  func(string) string
		want config.Tracing
	}{
		{"off by default", config.Tracing{}, env(), config.Tracing{}},
		{"the file's base URL", file, env(), config.Tracing{Endpoint: "http://collector:4318/v1/traces", ServiceName: "gw", SampleRatio: 0.5}},
		{"the environment alone turns it on", config.Tracing{}, env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/"),
			config.Tracing{Endpoint: "http://otel:4318/v1/traces"}},
		{"the signal's own URL as given", file, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://apm.example/ingest", "OTEL_SERVICE_NAME", "gw-2",
			"OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret,x=1", "OTEL_TRACES_SAMPLER", "always_on"),
			config.Tracing{Endpoint: "https://apm.example/ingest", ServiceName: "gw-2", Headers: map[string]string{"api-key": "s=cret", "x": "1"}}},
		{"disabled", file, env("OTEL_SDK_DISABLED", "true", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"), config.Tracing{}},
	} {
		got := resolveTracing(c.in, c.env)
		if got.Endpoint != c.want.Endpoint || got.ServiceName != c.want.ServiceName || got.SampleRatio != c.want.SampleRatio || len(got.Headers) != len(c.want.Headers) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		for k, v := range c.want.Headers {
			if got.Headers[k] != v {
				t.Errorf("%s: header %s = %q, want %q", c.name, k, got.Headers[k], v)
			}
		}
	}
}
