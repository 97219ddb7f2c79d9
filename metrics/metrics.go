// Package metrics is the gateway's Prometheus instrumentation: GraphQL operations by
// outcome and latency, department calls, breaker states, caches, policy decisions, rate
// limits and audit commits. Every collector is registered on one registry the server
// exposes at /metrics. Names and labels follow Prometheus's conventions: a unit suffix in
// base units (_seconds), _total on counters, an enum as one series per state, and no
// label whose values a client can multiply without bound (docs/operators.md, "Health,
// readiness and metrics").
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	rateLimited     *prometheus.CounterVec

	// opNames bounds the operation label: names are chosen by clients, so past
	// maxOperationNames distinct ones the rest are counted as "other".
	opMu    sync.Mutex
	opNames map[string]struct{}
}

// maxOperationNames is how many distinct operation names get their own series.
const maxOperationNames = 200

// breakerStates are the values of gateway_breaker_state's state label, in the order of
// resilience.State (0 closed, 1 half-open, 2 open).
var breakerStates = []string{"closed", "half-open", "open"}

// New creates the collectors on a fresh registry, with Go runtime and process metrics.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, opNames: map[string]struct{}{}}
	m.operations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_operations_total", Help: "GraphQL operations by type, name (the first 200 distinct names; then, and for a name with a run of six digits, \"other\") and outcome (ok, partial, error).",
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
		Name: "gateway_breaker_state", Help: "Circuit breaker state per department: 1 for the current state (closed, half-open, open), 0 for the others.",
	}, []string{"department", "state"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_policy_decisions_total", Help: "Sharing-policy decisions by class and outcome.",
	}, []string{"class", "outcome"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_http_requests_total", Help: "HTTP requests by route (the pattern that served it) and status code.",
	}, []string{"route", "code"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_ratelimit_refused_total", Help: "Requests refused with 429 by consumer and by the limit reached (end_user, consumer).",
	}, []string{"consumer", "limit"})
	m.auditCommitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gateway_audit_commit_duration_seconds", Help: "Time until a response's audit events were durably committed.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	reg.MustRegister(m.operations, m.operationTime, m.upstreamCalls, m.upstreamTime, m.breakerState, m.decisions, m.httpRequests, m.auditCommitTime, m.rateLimited)
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
	m.upstreamCalls.WithLabelValues(dept, op, adapters.Outcome(err)).Inc()
	m.upstreamTime.WithLabelValues(dept).Observe(d.Seconds())
}

// BreakerState sets a department's breaker state (0 closed, 1 half-open, 2 open): its
// series is 1 and the other states' are 0, so a query can select a state by name.
func (m *Metrics) BreakerState(dept string, state float64) {
	for i, name := range breakerStates {
		v := 0.0
		if float64(i) == state {
			v = 1
		}
		m.breakerState.WithLabelValues(dept, name).Set(v)
	}
}

// RateLimited counts a request refused over its limit ("end_user" or "consumer").
func (m *Metrics) RateLimited(consumer, limit string) {
	m.rateLimited.WithLabelValues(consumer, limit).Inc()
}

// Request counts one HTTP request by the route pattern that served it ("" for none) and
// its status (server.Deps.Requests).
func (m *Metrics) Request(pattern string, status int) {
	route := pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		route = path // "GET /healthz" → "/healthz": the method is not part of the route
	}
	if route == "" {
		route = "none"
	}
	code := ""
	if status >= 0 && status < len(statusCodes) {
		code = statusCodes[status]
	} else {
		code = strconv.Itoa(status)
	}
	m.httpRequests.WithLabelValues(route, code).Inc()
}

// statusCodes are the code label's values, made once: Request runs on every request.
var statusCodes = func() (codes [600]string) {
	for i := range codes {
		codes[i] = strconv.Itoa(i)
	}
	return codes
}()

// operationName bounds the operation label (see maxOperationNames), and keeps out of it
// a name that could carry an identifier (gateway.TelemetryName).
func (m *Metrics) operationName(name string) string {
	name, ok := gateway.TelemetryName(name)
	if !ok {
		return "other"
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if _, ok := m.opNames[name]; ok {
		return name
	}
	if len(m.opNames) >= maxOperationNames {
		return "other"
	}
	m.opNames[name] = struct{}{}
	return name
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
	m.operations.WithLabelValues(typ, m.operationName(name), outcome).Inc()
	m.operationTime.WithLabelValues(typ).Observe(time.Since(start).Seconds())
	return resp
}
