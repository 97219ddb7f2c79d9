package federation

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway/adapters"
)

// Department spans (docs/operators.md, "Tracing"): a lookup span per Fetch or Page (keys
// asked, cache hits and misses), under it a call span per department call (batch size,
// retries, breaker state, outcome), and under that an attempt span per attempt that
// reached the adapter, which is the span an HTTP department sees as its parent in the
// traceparent. Keys themselves are never recorded: they are ID numbers and credit codes.
// With no Tracer configured none of this runs.

// attemptsKey carries a call's attempt counter down through the resilience layer.
type attemptsKey struct{}

// startLookup opens the lookup span of a Fetch or Page; end it with endLookup.
func (d *Department) startLookup(ctx context.Context, op string, keys int) (context.Context, trace.Span) {
	return d.tracer.Start(ctx, d.ID+" "+op, trace.WithAttributes(
		attribute.String("gateway.department", d.ID),
		attribute.String("gateway.operation", op),
		attribute.Int("gateway.keys", keys),
	))
}

func endLookup(span trace.Span, hits, misses int, stale bool, err error) {
	span.SetAttributes(
		attribute.Int("gateway.cache.hits", hits),
		attribute.Int("gateway.cache.misses", misses),
		attribute.Bool("gateway.cache.stale", stale),
	)
	if err != nil {
		span.SetStatus(codes.Error, adapters.Outcome(err))
	}
	span.End()
}

// traceCall runs one department call (through the protections) inside a call span.
func traceCall[T any](d *Department, ctx context.Context, op string, batch int, call func(context.Context) (T, error)) (T, error) {
	var attempts atomic.Int32
	ctx = context.WithValue(ctx, attemptsKey{}, &attempts)
	ctx, span := d.tracer.Start(ctx, d.ID+" "+op+" call", trace.WithAttributes(
		attribute.String("gateway.department", d.ID),
		attribute.String("gateway.operation", op),
		attribute.Int("gateway.batch.size", batch),
	))
	got, err := call(ctx)
	span.SetAttributes(
		attribute.Int("gateway.retries", max(int(attempts.Load())-1, 0)),
		attribute.String("gateway.breaker.state", d.protected.State().String()),
		attribute.String("gateway.outcome", adapters.Outcome(err)),
	)
	if err != nil {
		span.SetStatus(codes.Error, adapters.Outcome(err))
	}
	span.End()
	return got, err
}

// tracedSource is the adapter as the resilience layer sees it when tracing is on: each
// attempt is a span (the client span of the department's protocol) and is counted for
// the call span's retries.
type tracedSource struct {
	d     *Department
	inner adapters.Source
}

func (s tracedSource) attempt(ctx context.Context, op string) (context.Context, trace.Span) {
	n := 1
	if c, ok := ctx.Value(attemptsKey{}).(*atomic.Int32); ok {
		n = int(c.Add(1))
	}
	return s.d.tracer.Start(ctx, s.d.ID+" "+op+" attempt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gateway.department", s.d.ID), attribute.String("gateway.operation", op),
			attribute.Int("gateway.attempt", n)))
}

func (s tracedSource) Fetch(ctx context.Context, op string, keys []string) (map[string][]adapters.Record, error) {
	ctx, span := s.attempt(ctx, op)
	defer span.End()
	got, err := s.inner.Fetch(ctx, op, keys)
	if err != nil {
		span.SetStatus(codes.Error, adapters.Outcome(err))
	}
	return got, err
}

// tracedPager is tracedSource for adapters that list page by page, so the resilience
// layer still sees a Pager.
type tracedPager struct{ tracedSource }

func (s tracedPager) Page(ctx context.Context, op, key string, offset, limit int) (adapters.Page, error) {
	ctx, span := s.attempt(ctx, op)
	defer span.End()
	p, err := s.inner.(adapters.Pager).Page(ctx, op, key, offset, limit)
	if err != nil {
		span.SetStatus(codes.Error, adapters.Outcome(err))
	}
	return p, err
}

func traced(d *Department, src adapters.Source) adapters.Source {
	t := tracedSource{d: d, inner: src}
	if _, ok := src.(adapters.Pager); ok {
		return tracedPager{t}
	}
	return t
}
