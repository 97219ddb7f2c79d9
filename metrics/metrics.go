// Package metrics is the gateway's Prometheus instrumentation: GraphQL operations by
// outcome and latency, department calls, breaker states, caches, policy decisions and
// audit commits. Every collector is registered on one registry the server exposes at
// /metrics.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pudong.gov.cn/gateway"
	"pudong.gov.cn/gateway/adapters"
)

// Metrics holds the gateway's collectors.
type Metrics struct {
	reg *prometheus.Registry

	operations      *prometheus.CounterVec
	operationTime   *prometheus.HistogramVec
	upstreamCalls   *prometheus.CounterVec
	upstreamTime    *prometheus.HistogramVec
	breakerState    *prometheus.GaugeVec
	decisions       *prometheus.CounterVec
	httpRequests    *prometheus.CounterVec
	auditCommitTime prometheus.Histogram
}

// New creates the collectors on a fresh registry, with Go runtime and process metrics.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg}
	m.operations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_operations_total", Help: "GraphQL operations by type, name and outcome (ok, partial, error).",
	}, []string{"type", "operation", "outcome"})
	m.operationTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_graphql_operation_duration_seconds", Help: "GraphQL operation latency.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"type"})
	m.upstreamCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_upstream_calls_total", Help: "Calls to department systems by department, operation and outcome (ok, unavailable, bad_response, canceled).",
	}, []string{"department", "operation", "outcome"})
	m.upstreamTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_upstream_duration_seconds", Help: "Latency of calls to department systems.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"department"})
	m.breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_breaker_state", Help: "Circuit breaker state per department: 0 closed, 1 half-open, 2 open.",
	}, []string{"department"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_policy_decisions_total", Help: "Sharing-policy decisions by class and outcome.",
	}, []string{"class", "outcome"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.auditCommitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gateway_audit_commit_duration_seconds", Help: "Time until a response's audit events were durably committed.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	reg.MustRegister(m.operations, m.operationTime, m.upstreamCalls, m.upstreamTime, m.breakerState, m.decisions, m.httpRequests, m.auditCommitTime)
	return m
}

// Registry is where further collectors (caches, audit recorder) register.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Decision counts one policy decision (enforce.Observer).
func (m *Metrics) Decision(class gateway.Class, outcome gateway.Outcome) {
	m.decisions.WithLabelValues(string(class), string(outcome)).Inc()
}

// Upstream records one call to a department.
func (m *Metrics) Upstream(dept, op string, d time.Duration, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		outcome = "canceled"
	case errors.Is(err, adapters.ErrBadResponse):
		outcome = "bad_response"
	default:
		outcome = "unavailable"
	}
	m.upstreamCalls.WithLabelValues(dept, op, outcome).Inc()
	m.upstreamTime.WithLabelValues(dept).Observe(d.Seconds())
}

// BreakerState sets a department's breaker gauge: 0 closed, 1 half-open, 2 open.
func (m *Metrics) BreakerState(dept string, state float64) {
	m.breakerState.WithLabelValues(dept).Set(state)
}

// AuditCommit records how long a response waited for its audit events.
func (m *Metrics) AuditCommit(d time.Duration) { m.auditCommitTime.Observe(d.Seconds()) }

// CounterFunc registers a counter read from elsewhere (a cache's or the recorder's own
// counters), so they are not counted twice.
func (m *Metrics) CounterFunc(name, help string, labels prometheus.Labels, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// GaugeFunc registers a gauge read from elsewhere.
func (m *Metrics) GaugeFunc(name, help string, labels prometheus.Labels, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// HTTP counts requests by route and status.
func (m *Metrics) HTTP(route string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
			next.ServeHTTP(sw, r)
			m.httpRequests.WithLabelValues(route, http.StatusText(sw.code)).Inc()
		})
	}
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int)        { c.code = code; c.ResponseWriter.WriteHeader(code) }
func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*Metrics)(nil)

// ExtensionName names the gqlgen extension.
func (m *Metrics) ExtensionName() string { return "Metrics" }

// Validate is part of gqlgen's extension interface.
func (m *Metrics) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse counts each operation by outcome and times it.
func (m *Metrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	typ, name := "unknown", ""
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil {
		typ, name = string(oc.Operation.Operation), oc.Operation.Name
		if !graphql.HasOperationContext(ctx) {
			typ = "unknown"
		}
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "partial"
		if len(resp.Data) == 0 || string(resp.Data) == "null" {
			outcome = "error"
		}
	}
	if len(name) > 64 {
		name = name[:64]
	}
	m.operations.WithLabelValues(typ, name, outcome).Inc()
	m.operationTime.WithLabelValues(typ).Observe(time.Since(start).Seconds())
	return resp
}
