package federation

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/cache"
)

// flaky fails its first n calls as unavailable.
type flaky struct {
	*memSource
	left atomic.Int32
}

func (f *flaky) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	if f.left.Add(-1) >= 0 {
		return nil, fmt.Errorf("connection reset: %w", adapters.ErrUnavailable)
	}
	return f.memSource.Fetch(ctx, op, keys)
}

func spanAttrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// A lookup is a span with the cache's hits and misses; each department call under it
// has the batch size, retries and breaker state; each attempt under that is a client
// span. No key appears anywhere.
func TestDepartmentSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	src := &flaky{memSource: newMem(10)}
	src.left.Store(1)
	b := binding("amr", 3)
	b.Retries = 2
	c := cache.New(cache.Options{Department: "amr", TTL: time.Minute, MaxRecords: 100})
	d := NewDepartment(b, src, Options{Cache: c, Tracer: tp.Tracer("test")})
	ctx := context.Background()
	if _, err := d.Fetch(ctx, "enterprise", []string{"k001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Fetch(ctx, "enterprise", []string{"k001", "k002", "k003", "k004"}); err != nil {
		t.Fatal(err)
	}
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = append(byName[s.Name], s)
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.Emit(), "k00") {
				t.Errorf("span %s attribute %s carries a key: %s", s.Name, kv.Key, kv.Value.Emit())
			}
		}
	}
	lookups, calls, attempts := byName["amr enterprise"], byName["amr enterprise call"], byName["amr enterprise attempt"]
	if len(lookups) != 2 || len(calls) != 2 || len(attempts) != 3 {
		t.Fatalf("spans: %d lookups, %d calls, %d attempts; want 2, 2 (1 key, then the 3 missed in one batch), 3 (one retry)", len(lookups), len(calls), len(attempts))
	}
	first, second := spanAttrs(lookups[0]), spanAttrs(lookups[1])
	if first["gateway.cache.misses"] != "1" || second["gateway.cache.hits"] != "1" || second["gateway.cache.misses"] != "3" || second["gateway.keys"] != "4" {
		t.Errorf("lookup spans: %v then %v", first, second)
	}
	retried := spanAttrs(calls[0])
	if retried["gateway.retries"] != "1" || retried["gateway.batch.size"] != "1" || retried["gateway.breaker.state"] != "closed" || retried["gateway.outcome"] != "ok" {
		t.Errorf("the retried call: %v", retried)
	}
	if calls[0].Parent.SpanID() != lookups[0].SpanContext.SpanID() {
		t.Error("a call span belongs to its lookup")
	}
	if got := spanAttrs(calls[1])["gateway.batch.size"]; got != "3" {
		t.Errorf("batch size %s, want the 3 keys the cache missed", got)
	}
	if spanAttrs(attempts[0])["gateway.attempt"] != "1" || attempts[0].Parent.SpanID() != calls[0].SpanContext.SpanID() {
		t.Errorf("attempt spans belong to their call and are numbered: %v", spanAttrs(attempts[0]))
	}
}

// Without a tracer the adapter is not wrapped, and paging still works through the
// traced wrapper when there is one.
func TestDepartmentTracingKeepsPaging(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	d := NewDepartment(binding("amr", 3), newMem(5), Options{Tracer: tp.Tracer("test")})
	p, err := d.Page(context.Background(), "list", "", 0, 2)
	if err != nil || p.Total != 5 || len(p.Records) != 2 {
		t.Fatalf("page through the traced adapter: %+v %v", p, err)
	}
	if n := len(exp.GetSpans()); n != 3 {
		t.Errorf("%d spans for one page, want lookup, call and attempt", n)
	}
	plain := NewDepartment(binding("amr", 3), newMem(5), Options{})
	if _, ok := plain.protected.Inner().(*memSource); !ok {
		t.Error("without a tracer the adapter must not be wrapped")
	}
}
