// Package tracing is the gateway's OpenTelemetry tracing (docs/operators.md, "Tracing"):
// a span per HTTP request and per GraphQL operation, per department lookup and call (the
// federation package makes those with the Tracer), and per audit commit, exported over
// OTLP/HTTP. W3C traceparent is taken from callers and sent on to HTTP departments.
//
// Spans carry the consumer, purpose, department and operation, counts and outcomes —
// never a subject's identifier or any other personal data, never a query's text or its
// variables, never a URL's query string or a caller's address. That is why the HTTP
// spans are made here rather than by otelhttp, whose spans carry the full department
// URL (which may hold an ID number) and the client's IP address.
//
// When tracing is off there is no *Tracing at all: every hook is skipped by a nil check,
// so an untraced gateway pays nothing (docs/PERFORMANCE.md, "Tracing").
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/config"
)

// Options configure New.
type Options struct {
	// Endpoint is the OTLP/HTTP traces URL (http://collector:4318/v1/traces).
	Endpoint string
	// Headers are sent with every export (an API key of a hosted backend).
	Headers map[string]string
	// ServiceName names the gateway in the backend; default "pudong-gateway".
	ServiceName string
	// SampleRatio is the share of new traces recorded (0 < r <= 1); a caller's
	// traceparent decides for traces it started. Zero leaves the choice to the SDK's
	// OTEL_TRACES_SAMPLER (default: every trace).
	SampleRatio float64
	// Exporter replaces the OTLP exporter (tests: tracetest.InMemoryExporter); with
	// Sync, spans are exported as they end instead of in batches.
	Exporter sdktrace.SpanExporter
	Sync     bool
}

// DefaultServiceName is the service.name of the gateway's spans: the configuration's
// default (config/defaults.go).
const DefaultServiceName = config.DefaultTracingServiceName

// Tracing holds the tracer provider and the propagator.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// New starts tracing: spans are batched and sent to o.Endpoint (or to o.Exporter).
func New(ctx context.Context, o Options) (*Tracing, error) {
	exp := o.Exporter
	if exp == nil {
		if o.Endpoint == "" {
			return nil, errors.New("tracing: no OTLP endpoint")
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(o.Endpoint), otlptracehttp.WithTimeout(10 * time.Second)}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
		}
		var err error
		if exp, err = otlptracehttp.New(ctx, opts...); err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", o.Endpoint, err)
		}
	}
	name := o.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	popts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.Sync {
		popts = append(popts, sdktrace.WithSyncer(exp))
	} else {
		popts = append(popts, sdktrace.WithBatcher(exp))
	}
	if o.SampleRatio > 0 {
		popts = append(popts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(popts...)
	return &Tracing{
		provider: tp,
		tracer:   tp.Tracer("pudong.gov.cn/gateway"),
		// W3C trace context only: baggage could carry whatever a caller put in it on to
		// the departments.
		prop: propagation.TraceContext{},
	}, nil
}

// Tracer makes the gateway's spans.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer }

// Shutdown exports what is buffered and stops; ctx bounds the wait.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// ForceFlush exports what is buffered now; ctx bounds the wait.
func (t *Tracing) ForceFlush(ctx context.Context) error { return t.provider.ForceFlush(ctx) }

// Middleware starts the server span of a request, as a child of the caller's
// traceparent when it sends one. It records the method, the path (never the query
// string: a GET request's query string holds the GraphQL document and its variables),
// the status and the gateway's request id.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method+" "+gateway.Route(r.URL.Path), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", gateway.Route(r.URL.Path)),
				attribute.String("gateway.request_id", gateway.RequestID(ctx)),
			))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Transport sends the trace context of each request's context on to the department
// (traceparent), so a department that traces links its spans to the gateway's. Nothing
// else is added or recorded: the department call's span is the federation layer's.
func (t *Tracing) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{next: next, prop: t.prop}
}

type roundTripper struct {
	next http.RoundTripper
	prop propagation.TextMapPropagator
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return rt.next.RoundTrip(r)
	}
	r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
	rt.prop.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return rt.next.RoundTrip(r)
}
