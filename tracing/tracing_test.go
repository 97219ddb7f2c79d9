package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway"
)

func newTest(t *testing.T) (*Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr, err := New(context.Background(), Options{Exporter: exp, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr, exp
}

func attrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	for _, kv := range s.Resource.Attributes() {
		m["resource."+string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

// The server span continues the caller's trace, and the departments get it on.
func TestMiddlewareAndTransportCarryTheTrace(t *testing.T) {
	tr, exp := newTest(t)
	var seen string
	dept := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("traceparent")
	}))
	defer dept.Close()
	client := &http.Client{Transport: tr.Transport(nil)}
	h := tr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, dept.URL+"/persons/310115198503120012", nil)
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		res.Body.Close()
		if req.Header.Get("traceparent") != "" {
			t.Error("the transport changed the caller's request")
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	req := httptest.NewRequest(http.MethodGet, "/graphql?query={citizen(idNumber:\"310115198503120012\"){name}}", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(gateway.WithRequestID(req.Context(), "req-0001")))

	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want the server span", len(spans))
	}
	s := spans[0]
	if s.SpanContext.TraceID().String() != callerTrace || s.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("the server span does not continue the caller's trace: %s parent %s", s.SpanContext.TraceID(), s.Parent.SpanID())
	}
	a := attrs(s)
	if s.Name != "GET /graphql" || s.SpanKind != trace.SpanKindServer || a["http.response.status_code"] != "418" ||
		a["gateway.request_id"] != "req-0001" || a["resource.service.name"] != DefaultServiceName {
		t.Errorf("server span %q %v: %v", s.Name, s.SpanKind, a)
	}
	for k, v := range a {
		if strings.Contains(v, "310115198503120012") {
			t.Errorf("attribute %s carries the query string: %s", k, v)
		}
	}
	if !strings.HasPrefix(seen, "00-"+callerTrace+"-") || strings.Contains(seen, "00f067aa0ba902b7") {
		t.Errorf("the department got traceparent %q: want the caller's trace with the gateway's span", seen)
	}
}

// A path a client made up is not recorded: it may hold anything.
func TestMiddlewareNamesOnlyKnownRoutes(t *testing.T) {
	tr, exp := newTest(t)
	h := tr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/persons/310115198503120012", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/playground/app.js", nil))
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "GET other" || attrs(spans[0])["url.path"] != "other" || spans[1].Name != "GET /playground/" {
		t.Errorf("spans: %q %v, %q", spans[0].Name, attrs(spans[0]), spans[1].Name)
	}
}

// Health checks and scrapes make no spans.
func TestMiddlewareSkipsProbes(t *testing.T) {
	tr, exp := newTest(t)
	h := tr.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for probes", n)
	}
}

type fakeRecorder struct {
	events []gateway.AuditEvent
	err    error
	trace  string
}

func (f *fakeRecorder) Record(ctx context.Context, events []gateway.AuditEvent) error {
	f.events = events
	f.trace = trace.SpanContextFromContext(ctx).TraceID().String()
	return f.err
}

// Each audit commit is a span, and each event carries the request's trace id.
func TestRecorderSpanAndTraceID(t *testing.T) {
	tr, exp := newTest(t)
	ctx, parent := tr.Tracer().Start(context.Background(), "query")
	f := &fakeRecorder{}
	events := []gateway.AuditEvent{{Code: "PSB-0001"}, {Code: "PSB-0002", TraceID: "kept"}}
	if err := tr.Recorder(f).Record(ctx, events); err != nil {
		t.Fatal(err)
	}
	parent.End()
	want := parent.SpanContext().TraceID().String()
	if f.events[0].TraceID != want || f.events[1].TraceID != "kept" || f.trace != want {
		t.Errorf("trace ids %q %q (recorder saw %q), want %q and the one already set", f.events[0].TraceID, f.events[1].TraceID, f.trace, want)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "audit commit" || attrs(spans[0])["gateway.audit.events"] != "2" || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("want the audit commit span under the operation's: %+v", spans)
	}
	f.err = errors.New("store down: INSERT 310115198503120012")
	tr.Recorder(f).Record(ctx, events)
	last := exp.GetSpans()[2]
	if last.Status.Code != codes.Error || strings.Contains(last.Status.Description, "3101") {
		t.Errorf("a failed commit is an error span without the store's message: %+v", last.Status)
	}
}

// Sampling: a ratio keeps a share of new traces, and a caller's decision is followed.
func TestSampleRatioFollowsTheCaller(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := New(context.Background(), Options{Exporter: exp, Sync: true, SampleRatio: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	h := tr.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("a near-zero ratio recorded %d new traces", n)
	}
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if n := len(exp.GetSpans()); n != 1 {
		t.Errorf("a caller's sampled trace is recorded whatever the ratio: %d spans", n)
	}
}
